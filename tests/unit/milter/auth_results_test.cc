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

TEST(ParseTokenHeader, ReadsTheBareAndTheDomainForms) {
  struct Case {
    std::string value;
    std::string token;
    std::string domain;
  };
  const std::string t(72, 'A');
  const Case cases[] = {
      {t, t, ""},
      {" " + t + " ", t, ""},
      {t + "; domain=beta.test", t, "beta.test"},
      {" " + t + " ; DOMAIN = Beta.Test. ", t, "beta.test"},
      {t + ";\r\n\tdomain=beta.test", t, "beta.test"},
      {t + "\r\n ; domain=\r\n beta.test", t, "beta.test"},
      {t + "; domain=[192.0.2.1]", t, "[192.0.2.1]"},
      {t + "; domain=[IPv6:2001:db8::1]", t, "[ipv6:2001:db8::1]"},
      {t + "; domain=" + std::string(255, 'a'), t, std::string(255, 'a')},
  };
  for (const Case& c : cases) {
    auto got = parseTokenHeader(c.value);
    ASSERT_TRUE(got.ok()) << "[" << c.value << "] " << got.error().message();
    EXPECT_EQ(got->token, c.token) << c.value;
    EXPECT_EQ(got->domain, c.domain) << c.value;
  }
}

TEST(ParseTokenHeader, RefusesAnythingElse) {
  const std::string t(72, 'A');
  const std::string bad[] = {
      "",
      ";domain=beta.test",
      t + ";",
      t + "; ",
      t + "; domain",
      t + "; domain=",
      t + "; domain= ",
      t + "; domain=.",
      t + "; domain=beta.test..",
      t + "; domain=.beta.test",
      t + "; domain=beta..test",
      t + "; domains=beta.test",
      t + "; d=beta.test",
      t + "; domain=beta.test; domain=gamma.test",
      t + "; domain=beta test",
      t + "; domain=b\xc3\xa9ta.test",
      t + "; domain=beta.test,gamma.test",
      t + "; domain=\"beta.test\"",
      t + "; domain=" + std::string(256, 'a'),
      t + " x; domain=beta.test",
      t + "+; domain=beta.test",
      std::string(257, 'A') + "; domain=beta.test",
      t + "; domain=beta.test" + std::string(kMaxTokenHeader, ' '),
  };
  for (const std::string& value : bad) {
    auto got = parseTokenHeader(value);
    EXPECT_FALSE(got.ok()) << "[" << value << "]";
    if (!got.ok()) {
      EXPECT_EQ(got.error().kind(), ErrorKind::kInvalid);
    }
  }
}

TEST(ParseTokenHeader, FormattedHeaderParsesBack) {
  const std::string t(72, 'x');
  EXPECT_EQ(formatTokenHeader(t, "beta.test"), t + "; domain=beta.test");
  auto got = parseTokenHeader(formatTokenHeader(t, "beta.test"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->token, t);
  EXPECT_EQ(got->domain, "beta.test");
  EXPECT_TRUE(tokenHeaderDomainOk("beta.test"));
  EXPECT_FALSE(tokenHeaderDomainOk(""));
  EXPECT_FALSE(tokenHeaderDomainOk("b\xc3\xa9ta.test"));
  EXPECT_FALSE(tokenHeaderDomainOk("a;b"));
}

}  // namespace
}  // namespace mtep::milter
