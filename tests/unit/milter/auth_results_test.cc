// authservIdOf, formatAuthResults and normalizeTokenHeader.
#include <gtest/gtest.h>

#include <string>

#include "milter/session.h"

namespace mtep::milter {
namespace {

TEST(AuthservIdOf, TakesTheFirstTokenAfterCommentsAndFoldingWhitespace) {
  struct Case {
    const char* value;
    const char* want;
  };
  const Case cases[] = {
      {"mx.example.org; spf=pass", "mx.example.org"},
      {" mx.example.org;spf=pass", "mx.example.org"},
      {"mx.example.org 1; none", "mx.example.org"},
      {"mx.example.org(comment); none", "mx.example.org"},
      {"MX.Example.ORG; none", "MX.Example.ORG"},
      {" (comment) mx.example.org; none", "mx.example.org"},
      {"(a (nested \\) comment) here)\r\n\tmx.example.org; none", "mx.example.org"},
      {"\r\n mx.example.org", "mx.example.org"},
      {"\"mx.example.org\"; none", "mx.example.org"},
      {"\"mx.ex\\\"ample\"; none", "mx.ex\"ample"},
      {"\"a\\\r\n\tb\"; none", "a\tb"},  // a quoted-pair never yields CR or LF
      {"mx.example.org", "mx.example.org"},
      {"", ""},
      {"   ", ""},
      {"; spf=pass", ""},
      {"(unclosed comment mx.example.org; none", ""},
      {"(x) \"unclosed", ""},
      {"(x\\", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(authservIdOf(c.value), c.want) << "value [" << c.value << "]";
  }
}

TEST(FormatAuthResults, WritesTheRfc8601Form) {
  EXPECT_EQ(formatAuthResults("mx.example.org", "pass", "alice@alpha.test"),
            "mx.example.org; mtep=pass smtp.mailfrom=alice@alpha.test");
  EXPECT_EQ(formatAuthResults("mx.example.org", "none", ""), "mx.example.org; mtep=none");
  EXPECT_EQ(formatAuthResults("mx", "temperror", "a@b", "server unreachable"),
            "mx; mtep=temperror (server unreachable) smtp.mailfrom=a@b");
}

TEST(FormatAuthResults, KeepsCommentsAndValuesOnOneLine) {
  const std::string out =
      formatAuthResults("mx\r\n", "pass", "a@b\r\nBcc: x", "(a)\\ \r\n\xC3\xA9");
  EXPECT_EQ(out, "mx; mtep=pass (\\(a\\)\\\\ ) smtp.mailfrom=a@bBcc: x");
  // Our own header is recognised as ours.
  EXPECT_EQ(authservIdOf(formatAuthResults("mx.beta.test", "pass", "a@b", "x (y)")),
            "mx.beta.test");
}

TEST(NormalizeTokenHeader, UnfoldsAndTrims) {
  struct Case {
    const char* value;
    const char* want;
  };
  const Case cases[] = {
      {"abc", "abc"},       {" abc", "abc"},       {"\t abc \t", "abc"},
      {"\r\n\tabc", "abc"}, {"\n abc\r\n", "abc"}, {"AZaz09-_", "AZaz09-_"},
  };
  for (const Case& c : cases) {
    auto got = normalizeTokenHeader(c.value);
    ASSERT_TRUE(got.ok()) << "[" << c.value << "] " << got.error().message();
    EXPECT_EQ(*got, c.want);
  }
}

TEST(NormalizeTokenHeader, RefusesEmptyLongAndForeignBytes) {
  const std::string bad[] = {
      "",
      " ",
      "\r\n\t",
      "ab cd",
      "ab\r\n cd",
      "ab+cd",
      "ab/cd",
      "abc=",
      std::string("ab\0cd", 5),
      "\xC3\xA9",
      "%s",
      std::string(257, 'A'),
      " " + std::string(300, 'A'),
  };
  for (const std::string& value : bad) {
    auto got = normalizeTokenHeader(value);
    EXPECT_FALSE(got.ok()) << "[" << value << "]";
    if (!got.ok()) {
      EXPECT_EQ(got.error().kind(), ErrorKind::kInvalid);
    }
  }
  auto longest = normalizeTokenHeader(" " + std::string(256, 'A') + " ");
  ASSERT_TRUE(longest.ok());
  EXPECT_EQ(longest->size(), 256u);
}

}  // namespace
}  // namespace mtep::milter
