// The generated documents: mtep.conf(5) KEYS section and the sample file.
#include <string>

#include "config/key_table.h"

namespace mtep::config {

namespace {

constexpr size_t kSampleWidth = 78;

// One line of roff running text: backslashes and quotes escaped, and a
// leading '.' or '\'' neutralised so it cannot be read as a request.
std::string roffLine(std::string_view text) {
  std::string out;
  if (!text.empty() && (text.front() == '.' || text.front() == '\'')) out += "\\&";
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '"') {
      out += "\\(dq";
    } else {
      out += c;
    }
  }
  out += '\n';
  return out;
}

// `text` word-wrapped into "# " comment lines.
std::string commentBlock(std::string_view text) {
  std::string out;
  std::string line = "#";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(pos, end - pos);
    if (line.size() > 1 && line.size() + 1 + word.size() > kSampleWidth) {
      out += line + "\n";
      line = "#";
    }
    line += " ";
    line += word;
    pos = end + 1;
  }
  if (line.size() > 1) out += line + "\n";
  return out;
}

std::string typeLine(const KeyInfo& info) {
  std::string out = std::string(info.type);
  if (!info.range.empty()) out += "; allowed: " + info.range;
  return out;
}

}  // namespace

std::string referenceRoff() {
  std::string out = ".SH KEYS\n";
  for (const detail::SectionInfo& section : detail::sections()) {
    if (section.name == "domain_defaults") {
      out += ".SS [domain_defaults] and [domain.\\(dqNAME\\(dq]\n";
    } else {
      out += ".SS [" + std::string(section.name) + "]\n";
    }
    out += roffLine(section.doc);
    for (const KeyInfo& info : keyTable()) {
      if (info.section != section.name) continue;
      out += ".TP\n.B " + std::string(info.key) + "\n";
      out += roffLine("Type: " + typeLine(info) + ".");
      out += ".br\n";
      out += roffLine("Default: " + std::string(info.default_text));
      out += ".br\n";
      out += roffLine(info.doc);
    }
  }
  return out;
}

std::string sampleConfig() {
  std::string out =
      "# mtep.conf: configuration of the mtep mail protocol suite, see mtep.conf(5).\n"
      "# Every key is shown with its default value. Durations are seconds, or a\n"
      "# string with a unit: \"30s\", \"5m\", \"12h\", \"7d\".\n";
  for (const detail::SectionInfo& section : detail::sections()) {
    out += "\n" + commentBlock(section.doc);
    out += "[" + std::string(section.name) + "]\n";
    for (const KeyInfo& info : keyTable()) {
      if (info.section != section.name) continue;
      out += "\n" + commentBlock(std::string(info.doc) + " (" + typeLine(info) + ")");
      out += std::string(info.key) + " = " + std::string(info.default_text) + "\n";
    }
  }
  out +=
      "\n# A domain of its own: [domain.\"example.org\"]; every subdomain of it:\n"
      "# [domain.\".example.org\"]. Keys left out keep the [domain_defaults] value.\n"
      "#[domain.\"example.org\"]\n";
  for (const KeyInfo& info : keyTable()) {
    if (info.section != "domain_defaults") continue;
    out += "#" + std::string(info.key) + " = " + std::string(info.default_text) + "\n";
  }
  return out;
}

}  // namespace mtep::config
