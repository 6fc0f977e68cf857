// The vectors published in doc/e2ee-vectors.md, at the FIXED parameters:
// if one of these changes, every user's key or signature changes.
#include <gtest/gtest.h>

#include <string>

#include "e2ee/e2ee.h"
#include "util/base64.h"

namespace mtep::e2ee {
namespace {

const char kPassword[] = "correct horse battery staple";
const char kVectorSalt[] = "mtep-e2ee-salt-1";  // 16 bytes, as GETSALT would give them decoded
const char kVectorMessage[] =
    "From: Alice <alice@alpha.test>\r\n"
    "To: Bob <bob@beta.test>\r\n"
    "Subject:  Lunch\r\n\ton Friday \r\n"
    "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
    "Received: from a by b\r\n"
    "Message-ID: <e2ee-1@alpha.test>\r\n"
    "\r\n"
    "Hi  Bob, \r\n"
    "\r\n"
    "see you\tthere.\r\n"
    "\r\n"
    "\r\n";

TEST(PublishedVectors, FixedParametersAreTheDocumentedOnes) {
  const KdfParams p;
  EXPECT_EQ(p.memory_kib, 65536u);
  EXPECT_EQ(p.time_cost, 3u);
  EXPECT_EQ(p.lanes, 1u);
}

TEST(PublishedVectors, CanonicalForm) {
  EXPECT_EQ(canonicalForm(kVectorMessage),
            "from:Alice <alice@alpha.test>\r\n"
            "to:Bob <bob@beta.test>\r\n"
            "date:Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "subject:Lunch on Friday\r\n"
            "message-id:<e2ee-1@alpha.test>\r\n"
            "\r\n"
            "Hi Bob,\r\n"
            "\r\n"
            "see you there.\r\n");
}

TEST(PublishedVectors, DerivedKeySignatureAndHashedPass) {
  auto kp = deriveKey(kPassword, kVectorSalt);
  ASSERT_TRUE(kp.ok()) << kp.error().message();
  EXPECT_EQ(hexEncode(kp->seed.data(), 32),
            "81d7946b87b4514b33c71804d1c6f6f3a284a5cfeed6f39165ee74851aa6ecf6");
  EXPECT_EQ(hexEncode(kp->pub.data(), 32),
            "46139dcd3eeca300d1bc62b525ac86d789e6a996030bded86cc7fdeaa0a76c66");
  EXPECT_EQ(formatOpensshBlob(kp->pub),
            "AAAAC3NzaC1lZDI1NTE5AAAAIEYTnc0+7KMA0bxitSWshteJ5qmWAwve2GzH/eqgp2xm");
  EXPECT_EQ(formatPubkeyReply(kp->pub),
            "QUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUVZVG5jMCs3S01BMGJ4aXRTV3NodGVKNXFtV0F3dmUyR3pIL2Vx"
            "Z3AyeG0=");
  auto sig = signMessage(kVectorMessage, kp->seed);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(*sig,
            "fe1b7f17fbe6f12572d988472428642966dd562182bc9873e37c2434c4bb4b30"
            "55d975983665bb8eb09687cc915d166f36b4594a592383baae5d33641ca3c50b");
  auto hp = hashedPass("Alice@Alpha.test", kPassword);
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hexEncode(hp->data(), 32),
            "0f22f4329e90efc488a1c56f3c6e1ecbcd3759e40b496ba408450dd6f2527de2");
}

}  // namespace
}  // namespace mtep::e2ee
