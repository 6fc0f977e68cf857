#pragma once
// NAME
//   key_watch.h - reloads the token key file when it was replaced or
//   changed, and keeps trying until a reload succeeds
// SUMMARY
//   KeyFileWatch w(path);
//   const KeyFileWatch::Stamp before = w.stamp();  // BEFORE reading the file
//   ...load the ring...; w.loaded(before);           // only if that worked
//   // from a 1 s timer:
//   switch (w.reload([&] { return loadAndInstall(w.path()); })) {
//     case KeyFileWatch::Outcome::kFailed: log the error (w.lastError()) once
//     ...
//   }
// DESCRIPTION
//   The file's identity is its inode, device, size and modification time
//   (nanoseconds). `mtepctl key rotate` renames a new file into place,
//   which changes the inode.
//   reload() calls the loader when the file's identity differs from the
//   one a load last SUCCEEDED with (or none did yet). The identity is
//   taken before the loader reads the file, so a change made while it
//   reads is seen at the next call (one extra reload, never a missed
//   one), and it is remembered only when the loader succeeds: a failed
//   load is retried at every call until one works, whatever the file
//   does meanwhile. (A key file renamed into place with mode 0644 and
//   chmodded a moment later keeps its inode, size and time: remembering
//   the identity of a failed load, as this class once did, left the old
//   ring in use for good, and mtep-milter minting with a key mtepd no
//   longer had, or the reverse.)
//   Logging: reload() says kFailed the first time a given file state
//   fails with a given error and kStillFailing when the same state fails
//   the same way again, so the caller can log once per problem while the
//   retries go on quietly. A missing file is such a failure.
//   Not thread-safe: the caller guards it (the minter holds a mutex,
//   mtepd uses it on its loop thread).

#include <sys/stat.h>

#include <string>
#include <utility>

#include "util/result.h"

namespace mtep::token {

class KeyFileWatch {
 public:
  // What the file looked like at one moment.
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

  enum class Outcome {
    kUnchanged,     // the file is the one last loaded: nothing was done
    kLoaded,        // the loader succeeded
    kFailed,        // the loader failed, for the first time in this way: log lastError()
    kStillFailing,  // the loader failed as it did at the previous call: retried, nothing new
  };

  explicit KeyFileWatch(std::string path = {}) : path_(std::move(path)) {}
  // A new path: nothing counts as loaded from it yet.
  void setPath(std::string path) {
    path_ = std::move(path);
    have_loaded_ = false;
    failing_ = false;
  }
  const std::string& path() const { return path_; }

  // The file's identity now (stat follows a symlink, as the loader's open does).
  Stamp stamp() const {
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
  // Records a successful load made outside reload() (at start-up);
  // `before` is stamp() taken before that load read the file.
  void loaded(const Stamp& before) {
    loaded_ = before;
    have_loaded_ = true;
    failing_ = false;
  }

  // Runs `load` (a callable returning Status) when the file is not the
  // one last loaded successfully, as described above.
  template <typename Load>
  Outcome reload(Load&& load);

  // The message of the last failed load ("" when the last load worked).
  const std::string& lastError() const { return last_error_; }

 private:
  std::string path_;
  Stamp loaded_;              // identity before the last successful load
  bool have_loaded_ = false;  // false: no load from path_ succeeded yet
  bool failing_ = false;      // the last attempt failed, with failed_ and last_error_
  Stamp failed_;              // identity before the last failed load
  std::string last_error_;
};

template <typename Load>
KeyFileWatch::Outcome KeyFileWatch::reload(Load&& load) {
  const Stamp before = stamp();
  if (have_loaded_ && before == loaded_) {
    // Back to the loaded file (a bad copy was replaced by the good one
    // again): nothing to do, and a later failure is news again.
    failing_ = false;
    last_error_.clear();
    return Outcome::kUnchanged;
  }
  const Status st = load();
  if (st.ok()) {
    loaded(before);
    last_error_.clear();
    return Outcome::kLoaded;
  }
  const bool same = failing_ && before == failed_ && st.error().message() == last_error_;
  failing_ = true;
  failed_ = before;
  last_error_ = st.error().message();
  return same ? Outcome::kStillFailing : Outcome::kFailed;
}

}  // namespace mtep::token
