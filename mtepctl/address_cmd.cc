// mtepctl address check | address fingerprint: overlay names and TLS key
// fingerprints (lib/overlay, lib/transport/tls.h). Neither reads the
// configuration nor needs privileges.
#include <cstdio>
#include <string>

#include "commands.h"
#include "overlay/overlay.h"
#include "transport/tls.h"

namespace mtep::ctl {

int addressCheck(const std::string& address) {
  const overlay::Explanation e = overlay::explain(address);
  for (const std::string& line : e.lines) std::printf("%s\n", line.c_str());
  return e.valid ? kExitOk : kExitNo;
}

int addressFingerprint(const std::string& cert_file) {
  auto fp = transport::spkiFingerprintOfPemFile(cert_file);
  if (!fp) {
    printError("%s", fp.error().message().c_str());
    return exitCodeFor(fp.error());
  }
  std::printf("%s\n", fp->c_str());
  return kExitOk;
}

}  // namespace mtep::ctl
