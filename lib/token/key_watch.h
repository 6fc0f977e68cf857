#pragma once
// NAME
//   key_watch.h - notices when the token key file was replaced or changed
// SUMMARY
//   KeyFileWatch w(path); w.reset();        // right after loading the ring
//   if (w.changed()) reload();              // from a 1 s timer
// DESCRIPTION
//   Compares the file's inode, size and modification time (nanoseconds)
//   with what they were at the last reset(). `mtepctl key rotate` renames a
//   new file into place, which changes the inode. A missing file counts as
//   a change only once (the caller logs it and keeps the old ring).

#include <sys/stat.h>

#include <string>

namespace mtep::token {

class KeyFileWatch {
 public:
  explicit KeyFileWatch(std::string path = {}) : path_(std::move(path)) {}
  void setPath(std::string path) { path_ = std::move(path); }
  const std::string& path() const { return path_; }

  // Remembers the file's current identity.
  void reset() { stamp_ = current(); }
  // True when the identity differs from the remembered one; remembers the new one.
  bool changed();

 private:
  struct Stamp {
    bool exists = false;
    ino_t inode = 0;
    dev_t device = 0;
    off_t size = 0;
    timespec mtime{};
    bool operator==(const Stamp& o) const {
      return exists == o.exists && inode == o.inode && device == o.device && size == o.size &&
             mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
    }
  };
  Stamp current() const {
    Stamp s;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return s;
    s.exists = true;
    s.inode = st.st_ino;
    s.device = st.st_dev;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
    return s;
  }

  std::string path_;
  Stamp stamp_;
};

inline bool KeyFileWatch::changed() {
  Stamp now = current();
  if (now == stamp_) return false;
  stamp_ = now;
  return true;
}

}  // namespace mtep::token
