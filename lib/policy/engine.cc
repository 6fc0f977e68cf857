// mtep-policyd's decisions: the gates described in policy.h.
#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "policy/policy.h"
#include "pow/pow.h"
#include "smtp/address.h"
#include "token/header.h"

namespace mtep::policy {

namespace {

constexpr size_t kMaxReply = 200;         // characters of reply text
constexpr size_t kMaxShownDomain = 64;    // a peer's domain in a reply
constexpr size_t kMaxShownAddress = 80;   // a peer's address in a reply
constexpr size_t kMaxShownDetail = 60;    // a stamp check's reason in a reply
constexpr size_t kMaxLogged = 256;        // a peer's value in a log line
constexpr int64_t kAnswerHold = 1;        // seconds any answer serves waiting requests
constexpr const char* kPolicyHeader = "X-MTEP-Policy";

std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string domainKey(std::string_view domain) {
  std::string lower = asciiLower(domain);
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower;
}

// Printable ASCII except '%' as is, anything else as '?', at most `max`
// characters ("..." included when cut).
std::string shown(std::string_view text, size_t max) {
  std::string out;
  const bool cut = text.size() > max;
  const size_t keep = cut ? (max > 3 ? max - 3 : 0) : text.size();
  out.reserve(keep + 3);
  for (size_t i = 0; i < keep; ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    out.push_back(u >= 0x20 && u < 0x7f && u != '%' ? text[i] : '?');
  }
  if (cut) out += "...";
  return out;
}

std::string logged(std::string_view text) { return shown(text, kMaxLogged); }

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

// The config section whose policy applies to `domain`, as Config::policyFor
// finds it: "" for [domain_defaults].
std::string policySection(const config::Config& cfg, std::string_view domain) {
  const std::string lower = smtp::domainKey(domain);
  if (cfg.domains.find(lower) != cfg.domains.end()) return lower;
  const std::string_view view = lower;
  for (size_t dot = view.find('.'); dot != std::string_view::npos; dot = view.find('.', dot + 1)) {
    if (cfg.domains.find(view.substr(dot)) != cfg.domains.end()) return std::string(view.substr(dot));
  }
  return "";
}

// An envelope address and its domain, as the milter finds them.
smtp::EnvelopeAddress addressOf(std::string_view text, bool allow_null) {
  smtp::AddressOptions opts;
  opts.smtputf8 = true;
  opts.allow_null = allow_null;
  return smtp::envelopeAddress(trim(text), opts);
}

// The envelope sender of a request.
struct Sender {
  bool null = false;
  bool valid = false;          // parsed (the null sender too)
  bool domain_found = false;   // valid, or parsePath refused it but its domain was found
  std::string address;         // canonical lower case; "" for null or invalid
  std::string domain;          // lower case, no trailing dot; set when domain_found
  std::string text;            // as sent, for logs
};

Sender senderOf(const Request& r) {
  using Kind = smtp::EnvelopeAddress::Kind;
  Sender s;
  const std::string_view raw = r.get("sender");
  s.text = logged(raw);
  if (trim(raw).empty()) {
    s.null = s.valid = true;
    return s;
  }
  const smtp::EnvelopeAddress from = addressOf(raw, true);
  if (from.kind == Kind::kNull) {
    s.null = s.valid = true;
    return s;
  }
  // An address literal has no MTEP server to ask, nor a domain to match.
  if (from.kind == Kind::kMailbox && from.mailbox.literal) return s;
  if (from.kind != Kind::kMailbox && from.kind != Kind::kLoose) return s;
  s.domain_found = true;
  s.domain = domainKey(from.domain);
  if (from.kind == Kind::kMailbox) {
    s.valid = true;
    s.address = from.address;
  }
  return s;
}

// A recipient's policy cannot be told: does any gate of this daemon apply
// to some domain at RCPT time?
bool anyRcptGate(const config::Config& cfg) {
  return cfg.anyPolicy([](const config::DomainPolicy& p) {
    return p.refuse_mixed_onion || p.rate_limit_client.enabled() ||
           p.rate_limit_sender.enabled() || p.require_mtep_capable;
  });
}

// ... at the DATA check (Exim)?
bool anyDataGate(const config::Config& cfg) {
  return cfg.anyPolicy(
      [](const config::DomainPolicy& p) { return p.require_mtep || p.require_stamp; });
}

// Whether require_mtep applies to mail from `sender` under `policy`.
bool mtepApplies(const config::DomainPolicy& policy, const Sender& sender) {
  if (sender.null) return policy.require_mtep;  // passes later, as in the milter
  if (sender.domain_found) return policy.requiresMtepFrom(sender.domain);
  return policy.require_mtep;  // cannot match the patterns: assume it applies
}

// Builds the Decision: the action and its log line.
class Decider {
 public:
  Decider(const Request& r, const Sender& s) : sender_(s) {
    const std::string_view qid = r.get("queue_id");
    queue_id_ = qid.empty() ? std::string("NOQUEUE") : logged(qid);
  }
  void rcpt(std::string_view rcpt) { extra_ += " rcpt=<" + logged(rcpt) + ">"; }
  void extra(std::string_view text) { extra_ += text; }

  Outcome reply(const char* code, const char* esc, std::string_view text, const char* action,
                std::string_view reason) const {
    std::string line = std::string(code) + " " + esc + " ";
    line += shown(text, kMaxReply);
    return finish(line, action, reason, std::string(" reply=\"") + code + " " + esc + "\"");
  }
  Outcome dunno(std::string_view reason) const { return finish("DUNNO", "dunno", reason, ""); }
  Outcome prepend(std::string_view value, std::string_view reason) const {
    return finish(std::string("PREPEND ") + kPolicyHeader + ": " + std::string(value), "prepend",
                  reason, " header=\"" + logged(value) + "\"");
  }

 private:
  Outcome finish(std::string action, const char* what, std::string_view reason,
                 const std::string& tail) const {
    Outcome o;
    o.decision.action = std::move(action);
    o.decision.log = queue_id_ + ": policy: action=" + what + " reason=" + std::string(reason) +
                     " sender=<" + sender_.text + ">" + extra_ + tail;
    return o;
  }

  const Sender& sender_;
  std::string queue_id_;
  std::string extra_;
};

Outcome askFor(Lookup lookup) {
  Outcome o;
  o.needs_lookup = true;
  o.lookup = std::move(lookup);
  return o;
}

// The most careful of several mtep_unavailable settings: tempfail (nobody
// gets unverified mail, everybody may get it later), then reject, then accept.
config::Unavailable mostCareful(config::Unavailable a, config::Unavailable b) {
  const auto rank = [](config::Unavailable u) {
    switch (u) {
      case config::Unavailable::kTempfail: return 2;
      case config::Unavailable::kReject: return 1;
      case config::Unavailable::kAccept: return 0;
    }
    return 2;
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace

// ---- helpers ---------------------------------------------------------------

std::vector<std::string> splitRecipients(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (isSpace(text[i]) || text[i] == ',')) ++i;
    size_t j = i;
    while (j < text.size() && !isSpace(text[j]) && text[j] != ',') ++j;
    std::string_view item = text.substr(i, j - i);
    if (item.size() >= 2 && item.front() == '<' && item.back() == '>') {
      item = item.substr(1, item.size() - 2);
    }
    if (!item.empty()) out.emplace_back(item);
    i = j;
  }
  return out;
}

std::vector<std::string> splitStamps(std::string_view text) {
  const auto startsStamp = [](std::string_view rest) {
    return rest.starts_with("1:") || asciiLower(rest.substr(0, 9)) == "argon2id:";
  };
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (isSpace(text[i]) || text[i] == ',')) ++i;
    size_t j = i;
    while (j < text.size() && !isSpace(text[j])) {
      if (text[j] == ',' && startsStamp(text.substr(j + 1))) break;
      ++j;
    }
    std::string_view item = text.substr(i, j - i);
    while (!item.empty() && item.back() == ',') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    i = j;
  }
  return out;
}

bool isOnionDomain(std::string_view domain) {
  const std::string d = domainKey(domain);
  return d == "onion" || d.ends_with(".onion");
}

std::string Lookup::key() const {
  switch (kind) {
    case Kind::kMtepCapable:
      return "c\n" + domain;
    case Kind::kToken:
      return "t\n" + domain + "\n" + sender + "\n" + recipient + "\n" + token;
  }
  return "?";
}

// ---- StampCheck ----------------------------------------------------------------

StampAnswer runStampCheck(const StampCheck& check, store::Store* store,
                          pow::MemoryBudget* memory, std::mutex* store_mu) {
  StampAnswer answer;
  if (store == nullptr) {
    answer.no_store = true;  // nothing hashed: the answer would be 451 anyway
    return answer;
  }
  pow::CheckLimits limits = check.limits;
  limits.memory = memory;
  answer.results =
      pow::checkAndSpend(check.recipients, check.stamps, nullptr, check.now, limits);
  for (const pow::RecipientResult& r : answer.results) {
    if (r.result.verdict != pow::Verdict::kValid) return answer;
  }
  std::unique_lock<std::mutex> lock;
  if (store_mu != nullptr) lock = std::unique_lock<std::mutex>(*store_mu);
  pow::spendResults(*store, answer.results);
  return answer;
}

// ---- Engine ------------------------------------------------------------------

Engine::Engine(config::ConfigPtr config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

void Engine::setConfig(config::ConfigPtr config) { config_ = std::move(config); }

void Engine::setCapacity(size_t entries) {
  instances_.setCapacity(entries);
  rates_.setCapacity(entries);
  lookups_.setCapacity(entries);
}

// The message a request belongs to (see policy.h).
Fingerprint Engine::instanceKey(const Request& r) {
  if (auto v = r.get("instance"); !v.empty()) return hasher_.of({"i", v});
  if (auto v = r.get("mtep_instance"); !v.empty()) return hasher_.of({"m", v});
  return hasher_.of({"c", r.get("client_address"), r.get("client_port"), r.get("sender")});
}

Fingerprint Engine::lookupKey(const Lookup& lookup) {
  switch (lookup.kind) {
    case Lookup::Kind::kMtepCapable:
      return hasher_.of({"c", lookup.domain});
    case Lookup::Kind::kToken:
      return hasher_.of({"t", lookup.domain, lookup.sender, lookup.recipient, lookup.token});
  }
  return hasher_.of({"?"});
}

void Engine::recordLookup(const Lookup& lookup, LookupAnswer answer) {
  const int64_t now = clock_.now();
  const int64_t ttl = config_ ? config_->policyd.lookup_cache_ttl : 0;
  CachedLookup& c = lookups_.put(lookupKey(lookup));
  c.answer = answer;
  c.until = now + (answer == LookupAnswer::kTemporary ? kAnswerHold : std::max(ttl, kAnswerHold));
}

const Engine::CachedLookup* Engine::cached(const Lookup& lookup, int64_t now) {
  const Fingerprint key = lookupKey(lookup);
  const CachedLookup* c = lookups_.find(key);
  if (c == nullptr) return nullptr;
  if (now > c->until) {
    lookups_.erase(key);
    return nullptr;
  }
  return c;
}

void Engine::expire() {
  const int64_t now = clock_.now();
  const int64_t ttl = config_ ? config_->policyd.instance_ttl : 0;
  instances_.eraseIf([&](const Instance& i) { return i.last_used + ttl < now; });
  rates_.eraseIf([&](const RateCounter& r) { return r.start + 2 * r.window <= now; });
  lookups_.eraseIf([&](const CachedLookup& c) { return now > c.until; });
}

double Engine::rateEstimate(const Fingerprint& key, int64_t window, int64_t now) {
  RateCounter* r = rates_.find(key);
  if (r == nullptr || r->window != window || window <= 0) return 0;
  const int64_t start = now - now % window;
  uint64_t previous = 0, current = 0;
  if (start == r->start) {
    previous = r->previous;
    current = r->current;
  } else if (start == r->start + window) {
    previous = r->current;
  }
  const double overlap = static_cast<double>(window - (now - start)) / static_cast<double>(window);
  return static_cast<double>(previous) * overlap + static_cast<double>(current);
}

void Engine::rateCount(const Fingerprint& key, int64_t window, int64_t now) {
  if (window <= 0) return;
  RateCounter& r = rates_.put(key);
  const int64_t start = now - now % window;
  if (r.window != window) r = RateCounter{window, start, 0, 0};
  if (start != r.start) {
    r.previous = start == r.start + window ? r.current : 0;
    r.current = 0;
    r.start = start;
  }
  if (r.current < UINT32_MAX) ++r.current;
}

Outcome Engine::decide(const Request& request, const RateAnswer* rates) {
  const std::string_view kind = request.get("request");
  if (kind != "smtpd_access_policy" || !config_) {
    Outcome o;
    const std::string_view qid = request.get("queue_id");
    o.decision.log = (qid.empty() ? std::string("NOQUEUE") : logged(qid)) +
                     ": policy: action=close reason=" +
                     (!config_ ? std::string("no-config") : std::string("bad-request")) +
                     " request=\"" + logged(kind) + "\"";
    return o;
  }
  const int64_t now = clock_.now();
  const std::string_view state = request.get("protocol_state");
  if (state == "RCPT") return decideRcpt(request, *config_, now, rates);
  if (state == "DATA" || state == "END-OF-MESSAGE") return decideData(request, *config_, now);
  const Sender sender = senderOf(request);
  return Decider(request, sender).dunno("not-checked-" + asciiLower(shown(state, 20)));
}

Outcome Engine::decideRcpt(const Request& request, const config::Config& cfg, int64_t now,
                           const RateAnswer* rates) {
  const Sender sender = senderOf(request);
  Decider decider(request, sender);
  const std::string_view rcpt_text = request.get("recipient");
  decider.rcpt(rcpt_text);
  const smtp::EnvelopeAddress to = addressOf(rcpt_text, false);
  const config::DomainPolicy* rcpt_policy = cfg.policyForAddress(to);
  if (rcpt_policy == nullptr) {
    // Its domain, so its policy, cannot be told: never let it pass unchecked.
    if (!anyRcptGate(cfg)) return decider.dunno("bad-recipient");
    return decider.reply("451", "4.1.3",
                         "Cannot tell which domain's policy applies to this recipient address; "
                         "write it as local-part@domain",
                         "defer", to.found() ? "routed-recipient" : "unknown-recipient-domain");
  }
  const std::string rcpt_domain = domainKey(to.domain);
  const config::DomainPolicy& policy = *rcpt_policy;
  const std::string section = policySection(cfg, rcpt_domain);
  const std::string shown_rcpt_domain = shown(rcpt_domain, kMaxShownDomain);

  // refuse_mixed_onion
  const Fingerprint ikey = instanceKey(request);
  const bool onion = isOnionDomain(rcpt_domain);
  Instance current;
  if (const Instance* found = instances_.find(ikey);
      found != nullptr && found->last_used + cfg.policyd.instance_ttl >= now) {
    current = *found;
  }
  const bool mixes = onion ? current.has_clear : current.has_onion;
  if (mixes && (current.no_mixing || policy.refuse_mixed_onion)) {
    return decider.reply("452", "4.5.3",
                         onion ? "Mail to .onion recipients is not mixed with other recipients: "
                                 "send to this recipient in a separate message"
                               : "Mail to other recipients is not mixed with .onion recipients: "
                                 "send to this recipient in a separate message",
                         "defer", "mixed-onion");
  }

  // rate_limit_client, rate_limit_sender
  const std::string_view client = request.get("client_address");
  const bool client_gate = policy.rate_limit_client.enabled() && !client.empty();
  const bool sender_gate = policy.rate_limit_sender.enabled() && !sender.null;
  const std::string sender_id =
      sender_gate ? (sender.valid ? sender.address : asciiLower(request.get("sender"))) : "";
  const auto overClient = [&] {
    return decider.reply("450", "4.7.1",
                         "Too many recipients at " + shown_rcpt_domain + " from " +
                             shown(client, kMaxShownAddress) + "; try again later",
                         "tempfail", "rate-limit-client");
  };
  const auto overSender = [&] {
    return decider.reply("450", "4.7.1",
                         "Too many recipients at " + shown_rcpt_domain + " from sender " +
                             shown(request.get("sender"), kMaxShownAddress) + "; try again later",
                         "tempfail", "rate-limit-sender");
  };
  std::optional<Fingerprint> client_key, sender_key;  // in-memory counters to count at acceptance
  if (shared_rates_ && (client_gate || sender_gate)) {
    // Counted by the caller in the shared store, all gates in one step.
    if (rates == nullptr) {
      auto check = std::make_shared<RateCheck>();
      if (client_gate) {
        check->entries.push_back({RateCheck::Gate::kClient,
                                  "c:" + section + ":" + std::string(client),
                                  policy.rate_limit_client.window, policy.rate_limit_client.count});
      }
      if (sender_gate) {
        check->entries.push_back({RateCheck::Gate::kSender, "s:" + section + ":" + sender_id,
                                  policy.rate_limit_sender.window, policy.rate_limit_sender.count});
      }
      Outcome o;
      o.needs_rates = true;
      o.rates = std::move(check);
      return o;
    }
    switch (rates->result) {
      case RateAnswer::Result::kUnder:
        break;
      case RateAnswer::Result::kOver:
        return rates->gate == RateCheck::Gate::kSender && sender_gate ? overSender()
                                                                      : overClient();
      case RateAnswer::Result::kTemporary:
        if (!rates->detail.empty()) decider.extra(" detail=\"" + logged(rates->detail) + "\"");
        return decider.reply("451", "4.3.0", "Cannot check the rate limits now; try again later",
                             "tempfail", "rate-store-unavailable");
    }
  } else {
    if (client_gate) {
      client_key = hasher_.of({"c", section, client});
      const config::RateLimit& limit = policy.rate_limit_client;
      if (rateEstimate(*client_key, limit.window, now) + 1 > static_cast<double>(limit.count)) {
        return overClient();
      }
    }
    if (sender_gate) {
      sender_key = hasher_.of({"s", section, sender_id});
      const config::RateLimit& limit = policy.rate_limit_sender;
      if (rateEstimate(*sender_key, limit.window, now) + 1 > static_cast<double>(limit.count)) {
        return overSender();
      }
    }
  }

  // require_mtep_capable
  bool capable = false;
  const char* reason = "passed";
  if (policy.require_mtep_capable && sender.null) {
    reason = "null-sender";
  } else if (policy.require_mtep_capable) {
    if (!sender.valid) {
      return decider.reply("550", "5.7.25",
                           "Mail to " + shown_rcpt_domain +
                               " needs MTEP, and the envelope sender is not an address MTEP can "
                               "vouch for",
                           "reject", "bad-sender");
    }
    Lookup lookup;
    lookup.kind = Lookup::Kind::kMtepCapable;
    lookup.domain = sender.domain;
    const CachedLookup* answer = cached(lookup, now);
    if (answer == nullptr) return askFor(std::move(lookup));
    const std::string sd = shown(sender.domain, kMaxShownDomain);
    switch (answer->answer) {
      case LookupAnswer::kYes:
        capable = true;
        reason = "mtep-capable";
        break;
      case LookupAnswer::kNo:
        return decider.reply("550", "5.7.25",
                             "Mail to " + shown_rcpt_domain +
                                 " needs a sender domain with an MTEP server, and " + sd +
                                 " has none; ask the postmaster of " + sd + " to enable MTEP",
                             "reject", "not-mtep-capable");
      case LookupAnswer::kTemporary:
        switch (policy.mtep_unavailable) {
          case config::Unavailable::kAccept:
            reason = "mtep-capable-unknown-accepted";
            break;
          case config::Unavailable::kReject:
            return decider.reply("550", "5.7.25",
                                 "Cannot find out whether " + sd +
                                     " has an MTEP server; ask the postmaster of " + sd,
                                 "reject", "mtep-capable-unknown");
          case config::Unavailable::kTempfail:
            return decider.reply("451", "4.7.25",
                                 "Cannot find out whether " + sd +
                                     " has an MTEP server now; try again later",
                                 "tempfail", "mtep-capable-unknown");
        }
        break;
    }
  }

  // Accepted: remember it.
  Instance& inst = instances_.put(ikey);
  if (inst.last_used + cfg.policyd.instance_ttl < now) inst = Instance{};
  inst.last_used = now;
  (onion ? inst.has_onion : inst.has_clear) = true;
  inst.no_mixing = inst.no_mixing || policy.refuse_mixed_onion;
  if (client_key) rateCount(*client_key, policy.rate_limit_client.window, now);
  if (sender_key) rateCount(*sender_key, policy.rate_limit_sender.window, now);
  if (capable && !inst.prepended) {
    inst.prepended = true;
    return decider.prepend("capable=yes sender-domain=" + shown(sender.domain, kMaxShownDomain),
                           reason);
  }
  return decider.dunno(reason);
}

Outcome Engine::decideData(const Request& request, const config::Config& cfg, int64_t now) {
  const Sender sender = senderOf(request);
  Decider decider(request, sender);
  if (!request.has("mtep_recipients")) return decider.dunno("no-mtep-attributes");

  struct Rcpt {
    std::string address;  // canonical lower case
    std::string domain;
    const config::DomainPolicy* policy;
    std::string asked;  // what an MTEP question names: the address, or its domain alone
                        // when mtepd could not read the address with that domain
  };
  std::vector<Rcpt> rcpts;
  std::vector<std::string> texts;
  for (std::string_view v : request.all("mtep_recipients")) {
    for (std::string& t : splitRecipients(v)) texts.push_back(std::move(t));
  }
  if (texts.empty() && !request.get("recipient").empty()) {
    texts.emplace_back(request.get("recipient"));
  }
  const std::string* unknown = nullptr;  // the first recipient whose policy cannot be told
  for (const std::string& t : texts) {
    const smtp::EnvelopeAddress to = addressOf(t, false);
    const config::DomainPolicy* policy = cfg.policyForAddress(to);
    if (policy == nullptr) {
      if (unknown == nullptr) unknown = &t;
      continue;
    }
    Rcpt r{to.address, domainKey(to.domain), policy, {}};
    r.asked = to.kind == smtp::EnvelopeAddress::Kind::kMailbox &&
                      asciiLower(to.mailbox.domain) == r.domain
                  ? r.address
                  : r.domain;
    if (std::any_of(rcpts.begin(), rcpts.end(),
                    [&](const Rcpt& o) { return o.address == r.address; })) {
      continue;
    }
    rcpts.push_back(std::move(r));
  }
  decider.extra(" recipients=" + std::to_string(rcpts.size()));
  if (unknown != nullptr && anyDataGate(cfg)) {
    // Never let it pass unchecked, nor the message it is in.
    decider.rcpt(*unknown);
    return decider.reply("451", "4.1.3",
                         "Cannot tell which domain's policy applies to a recipient address of "
                         "this message; write it as local-part@domain",
                         "defer", "unknown-recipient-domain");
  }

  std::vector<std::string> notes;
  const std::string sd = shown(sender.domain, kMaxShownDomain);

  // require_mtep, first: a refused message must not spend its stamps.
  const Rcpt* first_mtep = nullptr;
  config::Unavailable unavailable = config::Unavailable::kAccept;
  for (const Rcpt& r : rcpts) {
    if (!mtepApplies(*r.policy, sender)) continue;
    unavailable = first_mtep == nullptr ? r.policy->mtep_unavailable
                                        : mostCareful(unavailable, r.policy->mtep_unavailable);
    if (first_mtep == nullptr) first_mtep = &r;
  }
  if (first_mtep != nullptr && !sender.null) {
    const std::string rd = shown(first_mtep->domain, kMaxShownDomain);
    if (!sender.valid) {
      return decider.reply("550", "5.7.25",
                           "Mail to " + rd +
                               " needs MTEP, and the envelope sender is not an address MTEP can "
                               "vouch for",
                           "reject", "bad-sender");
    }
    // Every MTEP-Token header (token/header.h): "<token>" counts for every
    // recipient domain, "<token>; domain=<d>" for <d> only. Exim joins
    // several headers with commas (contrib/exim/mtep-acl.conf); neither a
    // token nor a domain holds one.
    struct DomainToken {
      std::string domain;     // a recipient domain MTEP applies to
      std::string recipient;  // its first recipient, canonical lower case
      int count = 0;          // headers naming it
      std::string token;      // the first one
    };
    std::vector<DomainToken> domains;
    for (const Rcpt& r : rcpts) {
      const bool applies = r.policy->requiresMtepFrom(sender.domain);
      if (!applies || std::any_of(domains.begin(), domains.end(),
                                  [&](const DomainToken& d) { return d.domain == r.domain; })) {
        continue;
      }
      domains.push_back(DomainToken{r.domain, r.asked, 0, {}});
    }
    if (domains.empty()) {  // first_mtep is one of them: never pass unchecked
      return decider.reply("451", "4.3.0", "Cannot check the MTEP token now; try again later",
                           "tempfail", "no-checked-domain");
    }
    int headers = 0;
    int bare = 0;
    std::string bare_token;
    bool malformed = false;
    for (std::string_view value : request.all("mtep_token")) {
      size_t start = 0;
      while (start <= value.size()) {
        size_t comma = value.find(',', start);
        if (comma == std::string_view::npos) comma = value.size();
        const std::string_view piece = trim(value.substr(start, comma - start));
        start = comma + 1;
        if (piece.empty()) continue;
        ++headers;
        auto parsed = token::parseTokenHeader(piece);
        if (!parsed) {
          malformed = true;
          continue;
        }
        if (parsed->domain.empty()) {
          if (++bare == 1) bare_token = std::move(parsed->token);
          continue;
        }
        for (DomainToken& d : domains) {
          if (d.domain == parsed->domain && ++d.count == 1) d.token = std::move(parsed->token);
        }
      }
    }
    if (headers == 0) {
      return decider.reply("550", "5.7.25",
                           "Mail to " + rd + " needs an MTEP-Token from " + sd +
                               "'s MTEP server; ask the postmaster of " + sd + " to enable MTEP",
                           "reject", "no-token");
    }
    if (malformed) {
      return decider.reply("550", "5.7.25",
                           "The MTEP-Token header is malformed; ask the postmaster of " + sd +
                               " to check their MTEP setup",
                           "reject", "malformed-token");
    }
    for (const DomainToken& d : domains) {
      const int count = d.count > 0 ? d.count : bare;
      const std::string dd = shown(d.domain, kMaxShownDomain);
      if (count == 0) {
        return decider.reply("550", "5.7.25",
                             "The message has no MTEP-Token for " + dd + " from " + sd +
                                 "'s MTEP server; ask the postmaster of " + sd,
                             "reject", "no-token");
      }
      if (count > 1) {
        return decider.reply("550", "5.7.25",
                             "The message has " + std::to_string(count) +
                                 " MTEP-Token headers for " + dd +
                                 ", which takes exactly one; ask the postmaster of " + sd,
                             "reject", "several-tokens");
      }
    }
    // One lookup per recipient domain, each naming one of its recipients;
    // the first answer that is not yes decides.
    bool temporary = false;
    for (const DomainToken& d : domains) {
      Lookup lookup;
      lookup.kind = Lookup::Kind::kToken;
      lookup.domain = sender.domain;
      lookup.sender = sender.address;
      lookup.token = d.count > 0 ? d.token : bare_token;
      lookup.recipient = d.recipient;
      const CachedLookup* answer = cached(lookup, now);
      if (answer == nullptr) return askFor(std::move(lookup));
      if (answer->answer == LookupAnswer::kNo) {
        return decider.reply("550", "5.7.25",
                             sd + "'s MTEP server does not vouch for this message's MTEP-Token "
                                  "for " + shown(d.domain, kMaxShownDomain) +
                                  "; ask the postmaster of " + sd,
                             "reject", "refused");
      }
      if (answer->answer == LookupAnswer::kTemporary) {
        temporary = true;
        break;
      }
    }
    if (!temporary) {
      notes.emplace_back("mtep=pass");
    } else {
      switch (unavailable) {
        case config::Unavailable::kAccept:
          notes.emplace_back("mtep=temperror");
          break;
        case config::Unavailable::kReject:
          return decider.reply("550", "5.7.25",
                               "Cannot verify the MTEP token with " + sd +
                                   "'s MTEP server; ask the postmaster of " + sd,
                               "reject", "unavailable");
        case config::Unavailable::kTempfail:
          return decider.reply("451", "4.7.25",
                               "Cannot verify the MTEP token with " + sd +
                                   "'s MTEP server now; try again later",
                               "tempfail", "unavailable");
      }
    }
  }

  // require_stamp: each such recipient under its own domain's policy. The
  // check itself runs off the loop (runStampCheck), then finishStamps().
  auto check = std::make_shared<StampCheck>();
  for (const Rcpt& r : rcpts) {
    if (!r.policy->require_stamp) continue;
    check->recipients.push_back({r.address, pow::policyFor(cfg.pow, *r.policy, now)});
  }
  if (!check->recipients.empty()) {
    for (std::string_view v : request.all("mtep_stamps")) {
      for (std::string& st : splitStamps(v)) check->stamps.push_back(std::move(st));
    }
    check->now = now;
    check->limits = pow::checkLimits(cfg.pow, nullptr);
    check->notes = std::move(notes);
    check->recipient_count = rcpts.size();
    Outcome o;
    o.needs_stamps = true;
    o.stamps = std::move(check);
    return o;
  }
  return passed(request, cfg, now, notes, rcpts.size(), nullptr);
}

Outcome Engine::finishStamps(const Request& request, const StampCheck& check,
                             const StampAnswer& answer) {
  const int64_t now = clock_.now();
  const Sender sender = senderOf(request);
  Decider decider(request, sender);
  decider.extra(" recipients=" + std::to_string(check.recipient_count));
  decider.extra(" stamps=" + std::to_string(check.stamps.size()));
  const auto tempfail = [&](const char* reason) {
    return decider.reply("451", "4.3.0", "Cannot check proof-of-work stamps now; try again later",
                         "tempfail", reason);
  };
  if (answer.no_store) return tempfail("no-store");
  if (answer.results.size() != check.recipients.size()) return tempfail("stamp-check-failed");
  // The first recipient without a valid stamp is named; a temporary
  // verdict before it tempfails.
  for (size_t i = 0; i < answer.results.size(); ++i) {
    const pow::RecipientResult& r = answer.results[i];
    if (r.result.verdict == pow::Verdict::kValid) continue;
    if (r.result.verdict == pow::Verdict::kTemporary) {
      decider.extra(" detail=\"" + logged(r.result.reason) + "\"");
      return tempfail("stamp-store");
    }
    const std::string who = shown(r.recipient, kMaxShownAddress);
    const std::string verdict = pow::verdictName(r.result.verdict);
    const std::string fix =
        "; mint one with: hashcash -m -b " +
        std::to_string(pow::requiredBits(check.recipients[i].policy,
                                         pow::Algorithm::kHashcashSha1)) +
        " -r " + who;
    std::string text = "No valid proof-of-work stamp for " + who + " (" + verdict;
    const std::string detail = shown(r.result.reason, kMaxShownDetail);
    if (!detail.empty() && text.size() + detail.size() + 3 + fix.size() < kMaxReply) {
      text += ": " + detail;
    }
    text += ")" + fix;
    decider.rcpt(r.recipient);
    return decider.reply("550", "5.7.1", text, "reject", "stamp-" + verdict);
  }
  std::vector<std::string> notes = check.notes;
  notes.emplace_back("stamp=pass");
  const config::ConfigPtr cfg = config_;
  return passed(request, *cfg, now, notes, check.recipient_count, &check);
}

Outcome Engine::passed(const Request& request, const config::Config& cfg, int64_t now,
                       const std::vector<std::string>& notes, size_t recipients,
                       const StampCheck* check) {
  const Sender sender = senderOf(request);
  Decider decider(request, sender);
  decider.extra(" recipients=" + std::to_string(recipients));
  if (check != nullptr) decider.extra(" stamps=" + std::to_string(check->stamps.size()));
  if (notes.empty()) return decider.dunno(recipients == 0 ? "no-recipients" : "passed");
  std::string reason = notes.front();
  for (size_t i = 1; i < notes.size(); ++i) reason += "," + notes[i];
  Instance& inst = instances_.put(instanceKey(request));
  if (inst.last_used + cfg.policyd.instance_ttl < now) inst = Instance{};
  inst.last_used = now;
  if (inst.prepended) return decider.dunno(reason);
  inst.prepended = true;
  std::string value;
  for (const std::string& n : notes) value += n + " ";
  if (!sender.domain.empty()) value += "sender-domain=" + shown(sender.domain, kMaxShownDomain);
  return decider.prepend(trim(value), reason);
}

}  // namespace mtep::policy
