// e2ee::fromMailbox: the one mailbox of a From: header value, as the
// milter's signature check and mtepctl verify/encrypt read it.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "e2ee/e2ee.h"

namespace mtep::e2ee {
namespace {

struct Case {
  std::string_view in;
  std::string_view want;
};

void expectAddress(const Case& c) {
  auto got = fromMailbox(c.in);
  ASSERT_TRUE(got.ok()) << "in: " << c.in << " error: " << got.error().message();
  EXPECT_EQ(*got, c.want) << "in: " << c.in;
}

void expectRefused(std::string_view in) {
  auto got = fromMailbox(in);
  ASSERT_FALSE(got.ok()) << "in: " << in << " got: " << *got;
  EXPECT_EQ(got.error().kind(), ErrorKind::kInvalid) << "in: " << in;
  EXPECT_FALSE(got.error().message().empty()) << "in: " << in;
}

TEST(FromMailbox, ReadsOneMailboxInItsCommonForms) {
  const Case cases[] = {
      {"alice@alpha.test", "alice@alpha.test"},
      {"  alice@alpha.test  ", "alice@alpha.test"},
      {"Alice <alice@alpha.test>", "alice@alpha.test"},
      {"<alice@alpha.test>", "alice@alpha.test"},
      {"Alice < alice@alpha.test >", "alice@alpha.test"},
      {"\"Example, Alice\" <alice@alpha.test>", "alice@alpha.test"},
      {"\"Smith, Alice\" <alice@alpha.test>", "alice@alpha.test"},
      {"\"Alice <boss@x.test>: hi\" <alice@alpha.test>", "alice@alpha.test"},
      {"\"Alice \\\"A\\\" Example\" <alice@alpha.test>", "alice@alpha.test"},
      {"=?utf-8?q?Al=C3=AFce?= <alice@alpha.test>", "alice@alpha.test"},
      {"J. Alice Example <alice@alpha.test>", "alice@alpha.test"},
  };
  for (const Case& c : cases) expectAddress(c);
}

TEST(FromMailbox, SkipsCommentsOutsideTheAngleBrackets) {
  const Case cases[] = {
      {"alice@alpha.test (Alice Example)", "alice@alpha.test"},
      {"(c) Alice <alice@alpha.test> (work)", "alice@alpha.test"},
      {"Alice (a (nested) comment) <alice@alpha.test>", "alice@alpha.test"},
      {"alice@alpha.test (a \\) quoted paren, and a comma)", "alice@alpha.test"},
      {"(<mallory@evil.test>) alice@alpha.test", "alice@alpha.test"},
  };
  for (const Case& c : cases) expectAddress(c);
}

TEST(FromMailbox, UnfoldsFoldedValues) {
  const Case cases[] = {
      {"Alice\n\t<alice@alpha.test>", "alice@alpha.test"},
      {"Alice\r\n <alice@alpha.test>", "alice@alpha.test"},
      {"\"Example,\r\n Alice\"\r\n <alice@alpha.test>\r\n (work)", "alice@alpha.test"},
      {"alice@alpha.test\r\n (Alice)", "alice@alpha.test"},
  };
  for (const Case& c : cases) expectAddress(c);
}

TEST(FromMailbox, ReturnsTheAddressInItsCanonicalTextForm) {
  const Case cases[] = {
      {"\"a b\"@alpha.test", "\"a b\"@alpha.test"},
      {"Alice <\"a b\"@alpha.test>", "\"a b\"@alpha.test"},
      {"<\"alice\"@alpha.test>", "alice@alpha.test"},  // needless quotes dropped
      {"Alice@Alpha.TEST", "Alice@Alpha.TEST"},       // case kept
      {"J\xC3\xB6rg <j\xC3\xB6rg@b\xC3\xBC" "cher.test>", "j\xC3\xB6rg@b\xC3\xBC" "cher.test"},
      {"<alice@[192.0.2.1]>", "alice@[192.0.2.1]"},
  };
  for (const Case& c : cases) expectAddress(c);
}

TEST(FromMailbox, RefusesListsGroupsAndSeveralAddresses) {
  for (std::string_view in :
       {"a@x.test, b@y.test", "Alice <a@x.test>, Bob <b@y.test>", "<a@x.test> <b@y.test>",
        "<a@x.test><b@y.test>", "friends: a@x.test, b@y.test;", "Team: a@b.test;",
        "undisclosed-recipients:;", "a@b.test;"}) {
    expectRefused(in);
  }
}

TEST(FromMailbox, RefusesBrokenSyntax) {
  for (std::string_view in : {"", "   ", "\r\n ", "()", "<>", "Alice <>", "Alice <a@x.test",
                              "\"open <a@x.test>", "(open a@x.test", "a@x.test (unclosed",
                              "Alice (x <a@x.test>", "a@x.test \"", "Alice Example", "nobody",
                              "\"Alice\" a@x.test", "a @x.test", "a@x.test b"}) {
    expectRefused(in);
  }
}

TEST(FromMailbox, RefusesTextAfterTheAddress) {
  for (std::string_view in : {"A <a@b.test> trailing", "Alice <a@b.test> \"x\"",
                              "Alice <a@b.test> (ok) x", "<a@b.test>>"}) {
    expectRefused(in);
  }
}

TEST(FromMailbox, RefusesWhatParseMailboxRefuses) {
  for (std::string_view in : {"Alice <not an address>", "Alice <a@>", "Alice <@x.test>",
                              "Alice <a@-x.test>", "Alice <a\x01@x.test>",
                              "Alice <a@x.test\xFF>"}) {
    expectRefused(in);
  }
  const std::string long_local(65, 'a');
  expectRefused("Alice <" + long_local + "@x.test>");
}

// The milter's and mtepctl's parsers, now this one, disagreed on these; the
// stricter answer (refused) was kept.
TEST(FromMailbox, KeepsTheStricterAnswerWhereTheOldParsersDisagreed) {
  for (std::string_view in : {
           "Alice <a@b.test> trailing",  // the milter read a@b.test
           "a@b.test (unclosed",         // mtepctl read a@b.test
           "<a@b.test (c)>",             // mtepctl read a@b.test: no comments inside <...>
           "<(c) a@b.test>",             // likewise
           "<@relay.test:a@b.test>",     // the milter dropped the source route
       }) {
    expectRefused(in);
  }
}

}  // namespace
}  // namespace mtep::e2ee
