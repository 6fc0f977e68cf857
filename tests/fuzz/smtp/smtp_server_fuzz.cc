// libFuzzer target for the SMTP/LMTP server session (smtp/server_session.h)
// with a few verbs registered as a daemon would: an AUTH mechanism with a
// 334 continuation, a verb that suspends (resumed at once by the driver),
// a diversion, transaction hooks that read STOKEN=/MYSTOKEN= and answer
// per recipient. The first input byte picks SMTP or LMTP and TLS; the rest
// is fed whole and sliced. Checked: output is whole CRLF lines, each reply
// line starts with a three-digit code; nothing follows a close; the
// replies do not depend on the slicing; unconsumed never exceeds the
// input; the output of one feed stays bounded by the input it got.

#include <cctype>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../netstring/fuzz_slices.h"
#include "smtp/server_session.h"

namespace {

using mtep::fuzz::asView;
using mtep::fuzz::hashBytes;
using mtep::fuzz::slices;
using namespace mtep::smtp;

class Echo final : public Diversion {
 public:
  Result feed(std::string_view in, std::string* out) override {
    Result r;
    for (char c : in) {
      if (c == 'Q') {
        out->append("Q\r\n");
        r.next = Next::kBack;
        r.answered = true;
        return r;
      }
    }
    return r;
  }
  void onEof(std::string*) override {}
  void onTimeout(std::string* out) override { out->append("T\r\n"); }
  void onLifetimeOver(std::string* out) override { out->append("L\r\n"); }
};

void setUp(ServerSession& s) {
  s.addAuthMechanism({"TEST", [](ServerSession& ss, const std::optional<std::string>& initial) {
                        if (initial) {
                          ss.reply(*initial == "ok" ? "235 2.7.0 ok" : "535 5.7.8 no");
                          if (*initial == "ok") ss.setUser("u");
                          return;
                        }
                        ss.reply("334 ");
                        ss.expectLine([](ServerSession& s2, const std::string& line) {
                          s2.reply(line == "ok" ? "235 2.7.0 ok" : "535 5.7.8 no");
                        });
                      },
                      false});
  s.addVerb({"SLOW", [](ServerSession& ss, const std::string&) { ss.suspend(); }, kNeedsHelo});
  s.addVerb({"DIVERT", [](ServerSession& ss, const std::string&) {
               ss.reply("220 go");
               ss.divert(std::make_unique<Echo>());
             }, kNeedsHelo | kNeedsTls});
  s.hooks().on_rcpt = [](ServerSession&, const Recipient& r) {
    if (findParam(r.params, "STOKEN")) return Reply{250, EnhancedStatus{2, 1, 5}, "token"};
    if (!r.params.empty()) return Reply{555, EnhancedStatus{5, 5, 4}, "no"};
    return Reply{250, EnhancedStatus{2, 1, 5}, "ok"};
  };
  s.hooks().on_message = [](ServerSession& ss, Message&& m) {
    if (m.data.size() % 2 == 0) {
      ss.suspend();
      return;
    }
    ss.answerMessage({{250, EnhancedStatus{2, 0, 0}, "one"}});
  };
}

// Feeds the pieces like a connection; returns everything written.
std::string run(uint8_t mode, const std::vector<std::string_view>& pieces) {
  ServerSettings settings;
  settings.dialect = (mode & 1) != 0 ? Dialect::kLmtp : Dialect::kSmtp;
  settings.tls_available = (mode & 2) != 0;
  settings.tls_active = (mode & 4) != 0;
  settings.hostname = "mx.test";
  settings.extensions = {{"STARTTLS"}, {"AUTH"}, {"SIZE"}, {"PIPELINING"}, {"ENHANCEDSTATUSCODES"}};
  settings.limits.max_line = 64;
  settings.limits.max_message_size = 256;
  settings.limits.max_recipients = 4;
  settings.limits.max_commands = 200;
  ServerSession s(settings);
  setUp(s);
  std::string out = s.greet().out;
  std::string kept;
  bool closed = false;
  for (std::string_view piece : pieces) {
    kept.append(piece);
    while (!kept.empty() && !closed) {
      const std::string in = std::move(kept);
      kept.clear();
      ServerStep st = s.feed(in);
      FUZZ_CHECK(st.unconsumed <= in.size());
      out += st.out;
      closed = st.close;
      if (st.start_tls) break;  // the rest of this input is dropped
      if (!st.suspended) break;
      kept = in.substr(in.size() - st.unconsumed);
      st = s.resume({{250, EnhancedStatus{2, 0, 0}, "resumed"}});
      out += st.out;
      closed = closed || st.close;
    }
    if (closed) break;
  }
  if (!closed) out += s.onTimeout().out;
  return out;
}

void checkLines(std::string_view out) {
  while (!out.empty()) {
    const size_t nl = out.find("\r\n");
    FUZZ_CHECK(nl != std::string_view::npos);
    const std::string_view line = out.substr(0, nl);
    out.remove_prefix(nl + 2);
    if (line == "Q" || line == "T" || line == "L") continue;  // the diversion's
    FUZZ_CHECK(line.size() >= 3);
    for (int i = 0; i < 3; ++i) FUZZ_CHECK(line[i] >= '0' && line[i] <= '9');
    FUZZ_CHECK(line.size() == 3 || line[3] == ' ' || line[3] == '-');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 1024) return 0;
  const uint8_t mode = data[0];
  const std::string_view in = asView(data + 1, size - 1);
  const std::string whole = run(mode, {in});
  checkLines(whole);
  // STARTTLS drops what followed it in the same feed, and the diversion
  // sees what it is fed: slicing changes both, so compare only inputs
  // without either verb, in any case (verbs are case-insensitive: "DIvERT").
  std::string lower(in);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find("starttls") == std::string::npos && lower.find("divert") == std::string::npos) {
    const std::string sliced = run(mode, slices(in, hashBytes(in)));
    FUZZ_CHECK(sliced == whole);
  }
  return 0;
}
