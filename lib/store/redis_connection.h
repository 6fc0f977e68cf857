#pragma once
// NAME
//   redis_connection.h - one blocking connection to Redis, with deadlines
// SUMMARY
//   auto c = store::RedisConnection::open(options);       // dial, TLS, AUTH, SELECT
//   auto r = (*c)->command({"SET", key, "1", "NX", "EXAT", exp});
//   auto rs = (*c)->pipeline({{"MULTI"}, {"ZADD", ...}, {"INCR", ...}, {"EXEC"}});
// DESCRIPTION
//   RESP is hiredis's: commands are formatted by redisFormatCommandArgv and
//   replies parsed by its redisReader (Debian's hiredis 0.14 has no TLS, so
//   the bytes go over the suite's own transport: TCP or a unix socket, TLS
//   with a CA file, every wait bounded by options.timeout_ms).
//   open(): with sentinels, asks each in turn for the master of master_name
//   (SENTINEL get-master-addr-by-name) and connects there, then checks with
//   ROLE that it is a master (a sentinel that has not seen a failover yet
//   may name the old one). AUTH (user and password, or password alone) and
//   SELECT follow. Errors: a refused password, an unknown user, a database
//   out of range, a CA file that cannot be read, a server certificate that
//   does not chain to it are kConfig (a restart or a reload will not cure
//   them by waiting); a server that cannot be reached,
//   is slow, or breaks the connection is kTemporary.
//   command(): an error reply is returned as a Reply of type kError (the
//   caller decides); a broken connection is kTemporary and the connection
//   is then unusable (broken() is true): the caller opens a new one.
//   A reply larger than kMaxReplyBytes is refused (kTemporary).
//   One RedisConnection is used by one thread at a time.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/stream.h"
#include "util/result.h"

namespace mtep::store {

struct RedisEndpoint {
  std::string host;
  uint16_t port = 6379;
};

struct RedisOptions {
  RedisEndpoint server{"127.0.0.1", 6379};
  std::string socket;      // unix socket path; "" = server over TCP
  int64_t database = 0;
  std::string user;        // ACL user; "" = the default user
  std::string password;    // "" = no AUTH
  bool tls = false;
  std::string tls_ca_file;  // "" = the system store
  std::string prefix = "mtep:";
  int timeout_ms = 1000;    // connect (TLS, AUTH, SELECT) and each command
  std::vector<RedisEndpoint> sentinels;
  std::string master_name;
  // The revocation list (RedisStore::isTokenRevoked): re-checked this
  // often, and trusted for at most stale_ms after the last good check.
  int revocation_refresh_ms = 250;
  int revocation_stale_ms = 1000;
};

struct RedisReply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<RedisReply> elements;  // kArray
  bool isError() const { return type == Type::kError; }
  bool isNil() const { return type == Type::kNil; }
};

inline constexpr size_t kMaxReplyBytes = 512u * 1024 * 1024;

class RedisConnection {
 public:
  static Result<std::unique_ptr<RedisConnection>> open(const RedisOptions& options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  Result<RedisReply> command(const std::vector<std::string_view>& args);
  // Sends every command in one write, then reads one reply for each.
  Result<std::vector<RedisReply>> pipeline(const std::vector<std::vector<std::string_view>>& cmds);

  bool broken() const { return broken_; }
  // "127.0.0.1:6379", "/run/redis/redis.sock", "mymaster at 10.0.0.2:6379".
  const std::string& label() const { return label_; }

 private:
  RedisConnection(std::unique_ptr<transport::Stream> stream, std::string label, int timeout_ms);
  static Result<std::unique_ptr<RedisConnection>> dialOne(const RedisOptions& o,
                                                          const RedisEndpoint& where,
                                                          bool unix_socket);
  Status send(const std::vector<std::vector<std::string_view>>& cmds);
  Result<RedisReply> readReply();

  std::unique_ptr<transport::Stream> stream_;
  std::string label_;
  int timeout_ms_;
  void* reader_ = nullptr;  // redisReader*
  bool broken_ = false;
};

// "host:port" of an endpoint, brackets for IPv6.
std::string endpointText(const RedisEndpoint& e);

}  // namespace mtep::store
