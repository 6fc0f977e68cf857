#pragma once
// NAME
//   e2ee_session.h - what mtepctl's user-key commands share: passwords
//   from the terminal or a descriptor, messages from a file or stdin, the
//   private key file, sessions with a key server, key look-up for an address
// DESCRIPTION
//   readPassword(): with fd -1 from /dev/tty with echo off (termios; the
//   prompt goes there too), asked twice when `confirm`; else one line from
//   the descriptor, read a byte at a time so nothing after it is consumed.
//   Never from argv. An empty password is refused.
//
//   The key file (key derive --out) is text, mode 0600, created with
//   O_EXCL|O_NOFOLLOW (with force an existing file is unlinked first):
//     # mtep user key: ed25519 private seed; keep it secret
//     user alice@alpha.test
//     seed BASE64(32 bytes)
//     public ssh-ed25519 AAAA...
//   readKeyFile() refuses a file that group or others may read, and one
//   whose public line does not match its seed.
//
//   openKeyServer(): KeyClient::open with [outbound] of the config file
//   (when it exists: the SOCKS proxies for .onion/.i2p), the timeouts of
//   ServerOptions, and the server's trust, the first that applies:
//   --tls-fingerprint (a pin); [milter] tls_pins for the domain of
//   `address` (the user or the address looked up); nothing for .onion and
//   .i2p servers (the address is the key); else a certificate for the
//   server's host from --ca-file, [milter] tls_ca_file or the system
//   store. A server that fails is an error naming its key fingerprint, so
//   the user can check it and pin it. Without --tls-fingerprint the
//   fingerprint of the server reached is printed on stderr. `targets`:
//   lookUpKey refuses non-public addresses of discovered servers as the
//   milter does ([milter] allow_private_targets); --server is never refused.
//
//   lookUpKey(): PUBKEY for an address at --server, or else at the address
//   domain's key servers as the milter finds them
//   (verify::discoverKeyServers: [milter] key_servers of the config, overlay
//   names through the proxy, MX hosts, the domain; [outbound] smtp_port).
//   The first server that answers decides. kNotFound when one answered
//   that there is no key (or the domain has no key server); kTemporary
//   when none could be asked.
// SEE ALSO
//   lib/e2ee/client.h, e2ee_options.h, mtepctl(1)

#include <memory>
#include <string>

#include "context.h"
#include "e2ee/client.h"
#include "e2ee/e2ee.h"
#include "e2ee_options.h"

namespace mtep::ctl {

inline constexpr size_t kMaxMessageBytes = 32u << 20;  // what sign, encrypt, ... read at most

Result<std::string> readPassword(int fd, const std::string& prompt, bool confirm);
// FILE, or standard input for "-", at most kMaxMessageBytes.
Result<std::string> readMessage(const std::string& file);
// Writes all of `data` to standard output.
Status writeOut(std::string_view data);

Status writeKeyFile(const std::string& path, const std::string& user, const e2ee::KeyPair& pair,
                    bool force);
Result<e2ee::KeyPair> readKeyFile(const std::string& path);

// [outbound] (and [milter] key_servers) of the config file; defaults when
// it does not exist.
Result<config::ConfigPtr> optionalConfig(const GlobalOptions& global);

Result<std::unique_ptr<e2ee::KeyClient>> openKeyServer(const config::Config& cfg,
                                                       const config::ServerAddress& at,
                                                       const ServerOptions& options,
                                                       const std::string& address,
                                                       const transport::TargetPolicy& targets = {});

// Login (AUTH HASHEDPASS), then the key from the salt (GETSALT, or RSTSALT
// when `reset`): the derived pair, its salt in *salt_out.
Result<e2ee::KeyPair> loginAndDerive(e2ee::KeyClient& client, const std::string& user,
                                     const std::string& password, bool reset,
                                     std::string* salt_out);

struct FoundKey {
  e2ee::PublicKey key{};
  std::string server;  // "host:port" that answered
};
Result<FoundKey> lookUpKey(const config::Config& cfg, const ServerOptions& options,
                           const std::string& address);

}  // namespace mtep::ctl
