// Tests for dns::parseAnswer on hand-built DNS responses: good SRV, MX, A and
// AAAA answers, compression, rcodes, skipped records, and malformed
// messages (cut short, pointer loops, bad lengths).

#include "dns/answer.h"

#include <gtest/gtest.h>

#include <string>

#include "unit/dns/dns_message.h"

namespace mtep::dns {
namespace {

using testing::addressData;
using testing::kQuestionNameOffset;
using testing::Message;
using testing::mxData;
using testing::pointer;
using testing::srvData;
using testing::u16;
using testing::wireName;

Message srvMessage() {
  Message m;
  m.qname = wireName("_mtep._tcp.alpha.test");
  m.qtype = kTypeSrv;
  return m;
}

void expectKind(const Result<Answer>& r, ErrorKind want) {
  ASSERT_FALSE(r.ok()) << "parsed, want " << errorKindName(want);
  EXPECT_EQ(r.error().kind(), want) << r.error().message();
}

TEST(ParseAnswer, SrvRecordsKeepMessageOrderAndLowerTheTarget) {
  Message m = srvMessage();
  m.add(m.qname, kTypeSrv, srvData(20, 5, 6211, "Backup.Alpha.TEST"));
  m.add(m.qname, kTypeSrv, srvData(10, 60, 7000, "mtep.alpha.test"));
  auto a = parseAnswer(m.build(), kTypeSrv);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_EQ(a->srv.size(), 2u);
  EXPECT_EQ(a->srv[0].priority, 20);
  EXPECT_EQ(a->srv[0].weight, 5);
  EXPECT_EQ(a->srv[0].port, 6211);
  EXPECT_EQ(a->srv[0].target, "backup.alpha.test");
  EXPECT_EQ(a->srv[1].priority, 10);
  EXPECT_EQ(a->srv[1].weight, 60);
  EXPECT_EQ(a->srv[1].port, 7000);
  EXPECT_EQ(a->srv[1].target, "mtep.alpha.test");
  EXPECT_TRUE(a->mx.empty());
  EXPECT_TRUE(a->addresses.empty());
}

TEST(ParseAnswer, SrvRootTargetBecomesEmpty) {
  Message m = srvMessage();
  m.add(m.qname, kTypeSrv, srvData(0, 0, 0, ""));
  auto a = parseAnswer(m.build(), kTypeSrv);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_EQ(a->srv.size(), 1u);
  EXPECT_EQ(a->srv[0].target, "");
}

TEST(ParseAnswer, MxRecords) {
  Message m;
  m.qtype = kTypeMx;
  m.add(m.qname, kTypeMx, mxData(10, "mx1.alpha.test"));
  m.add(m.qname, kTypeMx, mxData(5, "MX2.alpha.test"));
  auto a = parseAnswer(m.build(), kTypeMx);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_EQ(a->mx.size(), 2u);
  EXPECT_EQ(a->mx[0].preference, 10);
  EXPECT_EQ(a->mx[0].exchange, "mx1.alpha.test");
  EXPECT_EQ(a->mx[1].preference, 5);
  EXPECT_EQ(a->mx[1].exchange, "mx2.alpha.test");
}

TEST(ParseAnswer, ARecordsAsNumericText) {
  Message m;
  m.add(m.qname, kTypeA, addressData("192.0.2.1"));
  m.add(m.qname, kTypeA, addressData("198.51.100.7"));
  auto a = parseAnswer(m.build(), kTypeA);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"192.0.2.1", "198.51.100.7"}));
}

TEST(ParseAnswer, AaaaRecordsAsNumericText) {
  Message m;
  m.qtype = kTypeAaaa;
  m.add(m.qname, kTypeAaaa, addressData("2001:db8::1"));
  auto a = parseAnswer(m.build(), kTypeAaaa);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"2001:db8::1"}));
}

TEST(ParseAnswer, CompressedOwnerAndTargetNames) {
  // Owner: pointer to the question name. Exchange: "mx" then a pointer to
  // "alpha.test" inside the question name.
  Message m;
  m.qtype = kTypeMx;
  m.add(pointer(kQuestionNameOffset), kTypeMx, u16(10) + "\x02mx" + pointer(kQuestionNameOffset));
  auto a = parseAnswer(m.build(), kTypeMx);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_EQ(a->mx.size(), 1u);
  EXPECT_EQ(a->mx[0].exchange, "mx.alpha.test");
}

TEST(ParseAnswer, PointerToANameThatEndsInAPointer) {
  // Record 1's exchange is "mx" + ptr(question); record 2's is "b" + ptr(record 1's "mx...").
  Message m;
  m.qtype = kTypeMx;
  m.add(pointer(kQuestionNameOffset), kTypeMx, u16(10) + "\x02mx" + pointer(kQuestionNameOffset));
  const std::string first = m.build();
  // The first exchange starts after: header, question, owner(2), type..rdlength(10), pref(2).
  const auto mx_at = static_cast<uint16_t>(first.size() - 5);
  ASSERT_EQ(first.substr(mx_at, 3), "\x02mx");
  m.add(pointer(kQuestionNameOffset), kTypeMx,
        u16(20) +
            "\x01"
            "b" +
            pointer(mx_at));
  auto a = parseAnswer(m.build(), kTypeMx);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_EQ(a->mx.size(), 2u);
  EXPECT_EQ(a->mx[1].exchange, "b.mx.alpha.test");
}

TEST(ParseAnswer, OtherTypesAndClassesAreSkipped) {
  Message m;
  m.add(m.qname, 5 /* CNAME */, wireName("real.alpha.test"));
  m.add(wireName("real.alpha.test"), 46 /* RRSIG */, std::string(20, 'x'));
  m.add(wireName("real.alpha.test"), kTypeAaaa, addressData("2001:db8::2"));
  m.add(wireName("real.alpha.test"), kTypeA, addressData("192.0.2.9"));
  m.answers.push_back({wireName("real.alpha.test"), kTypeA, addressData("192.0.2.10"), 3 /*CH*/});
  auto a = parseAnswer(m.build(), kTypeA);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(a->addresses, (std::vector<std::string>{"192.0.2.9"}));
}

TEST(ParseAnswer, TargetsThatAreNotHostNamesAreSkipped) {
  Message m = srvMessage();
  m.add(m.qname, kTypeSrv,
        u16(1) + u16(1) + u16(1) +
            "\x05"
            "a.b.c" +
            wireName("test"));
  m.add(m.qname, kTypeSrv,
        u16(1) + u16(1) + u16(1) +
            "\x03"
            "a b" +
            wireName("test"));
  m.add(m.qname, kTypeSrv,
        u16(1) + u16(1) + u16(1) +
            "\x03"
            "a\x01"
            "b" +
            wireName("test"));
  m.add(m.qname, kTypeSrv, srvData(2, 0, 6211, "good.test"));
  auto a = parseAnswer(m.build(), kTypeSrv);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_EQ(a->srv.size(), 1u);
  EXPECT_EQ(a->srv[0].target, "good.test");
  EXPECT_EQ(a->skipped, 3u);
}

TEST(ParseAnswer, EmptyAnswerSectionIsAnEmptyList) {
  Message m;
  auto a = parseAnswer(m.build(), kTypeA);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_TRUE(a->addresses.empty());
}

TEST(ParseAnswer, NxDomainIsNotFound) {
  Message m;
  m.rcode(3);
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kNotFound);
}

TEST(ParseAnswer, ServFailAndRefusedAreTemporary) {
  for (int rc : {1, 2, 4, 5}) {
    Message m;
    m.rcode(rc);
    SCOPED_TRACE(rc);
    expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kTemporary);
  }
}

TEST(ParseAnswer, TruncatedFlagIsTemporary) {
  Message m;
  m.flags |= 0x0200;
  m.add(m.qname, kTypeA, addressData("192.0.2.1"));
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kTemporary);
}

TEST(ParseAnswer, QueryInsteadOfResponseIsAProtocolError) {
  Message m;
  m.flags = 0x0100;
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kProtocol);
}

TEST(ParseAnswer, EveryCutShortMessageIsAProtocolError) {
  Message m = srvMessage();
  m.add(pointer(kQuestionNameOffset), kTypeSrv, srvData(1, 2, 3, "mtep.alpha.test"));
  m.add(pointer(kQuestionNameOffset), kTypeSrv, srvData(4, 5, 6, "other.alpha.test"));
  const std::string whole = m.build();
  ASSERT_TRUE(parseAnswer(whole, kTypeSrv).ok());
  for (size_t len = 0; len < whole.size(); ++len) {
    SCOPED_TRACE(len);
    expectKind(parseAnswer(whole.substr(0, len), kTypeSrv), ErrorKind::kProtocol);
  }
}

TEST(ParseAnswer, PointerToItselfIsAProtocolError) {
  Message m;
  m.add(pointer(static_cast<uint16_t>(m.build().size())), kTypeA, addressData("192.0.2.1"));
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kProtocol);
}

TEST(ParseAnswer, PointerLoopThroughALabelIsAProtocolError) {
  // At offset X: label "ab" then a pointer back to X; reading X loops forever
  // unless pointers must lead before the run they end.
  Message m;
  const auto x = static_cast<uint16_t>(m.build().size());
  m.add(std::string("\x02"
                    "ab") +
            pointer(x),
        kTypeA, addressData("192.0.2.1"));
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kProtocol);
}

TEST(ParseAnswer, TwoNamesPointingAtEachOtherAreAProtocolError) {
  // Question name at 12 is "a" + pointer to the owner name of the record,
  // which is "b" + pointer back to 12.
  Message m;
  const std::string head = m.header(1);
  const auto owner_at = static_cast<uint16_t>(12 + 4 + 4);  // question: 1+1+2 name, type, class
  std::string msg = head +
                    "\x01"
                    "a" +
                    pointer(owner_at) + u16(kTypeA) + u16(1);
  ASSERT_EQ(msg.size(), owner_at);
  msg += std::string(
             "\x01"
             "b") +
         pointer(12) + u16(kTypeA) + u16(1) + testing::u32(60) + u16(4) + addressData("192.0.2.1");
  expectKind(parseAnswer(msg, kTypeA), ErrorKind::kProtocol);
}

TEST(ParseAnswer, ForwardPointerIsAProtocolError) {
  Message m;
  m.qname = pointer(200);
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kProtocol);
}

TEST(ParseAnswer, ExtendedLabelTypesAreAProtocolError) {
  Message m;
  m.qname = std::string(
                "\x41"
                "x") +
            '\0';
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kProtocol);
}

TEST(ParseAnswer, NameOverTwoHundredFiftyFiveOctetsIsAProtocolError) {
  std::string label(63, 'a');
  Message m;
  m.qtype = kTypeMx;
  m.add(m.qname, kTypeMx, mxData(1, label + "." + label + "." + label + "." + label + ".test"));
  expectKind(parseAnswer(m.build(), kTypeMx), ErrorKind::kProtocol);
}

TEST(ParseAnswer, AddressRecordOfWrongLengthIsAProtocolError) {
  Message m;
  m.add(m.qname, kTypeA, "\x01\x02\x03\x04\x05");
  expectKind(parseAnswer(m.build(), kTypeA), ErrorKind::kProtocol);
  Message six;
  six.qtype = kTypeAaaa;
  six.add(six.qname, kTypeAaaa, addressData("192.0.2.1"));
  expectKind(parseAnswer(six.build(), kTypeAaaa), ErrorKind::kProtocol);
}

TEST(ParseAnswer, NameThatDoesNotFillTheRecordDataIsAProtocolError) {
  Message m;
  m.qtype = kTypeMx;
  m.add(m.qname, kTypeMx, mxData(1, "mx.alpha.test") + "x");
  expectKind(parseAnswer(m.build(), kTypeMx), ErrorKind::kProtocol);
}

TEST(ParseAnswer, NameRunningPastItsRecordIsAProtocolError) {
  // The MX data claims 6 bytes, but its name goes on into the next record.
  Message m;
  m.qtype = kTypeMx;
  std::string data = mxData(1, "mx.alpha.test");
  m.add(m.qname, kTypeMx, data);
  std::string msg = m.build();
  const size_t rdlength_at = msg.size() - data.size() - 2;
  msg[rdlength_at + 1] = 6;
  expectKind(parseAnswer(msg, kTypeMx), ErrorKind::kProtocol);
}

TEST(ParseAnswer, UnsupportedQueryTypeIsInvalid) {
  Message m;
  expectKind(parseAnswer(m.build(), 16 /* TXT */), ErrorKind::kInvalid);
}

}  // namespace
}  // namespace mtep::dns
