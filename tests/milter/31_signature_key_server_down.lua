-- A signed message From: dave@down.test, whose key server (key_servers)
-- is a closed port: the key cannot be fetched. Where bad signatures are
-- refused (sigstrict.test) or signatures required (sigreq.test): 451
-- 4.7.5; where they are only checked (sig.test): delivered with
-- x-sender-signature=temperror. The body is taken, not skipped.
dofile(HELPERS)
local SIG = "ed25519 " .. string.rep("ab", 64)
local function send(qid, rcpt)
  local conn = T.connect("192.0.2.31")
  T.mail(conn, qid, "<dave@down.test>")
  T.rcpt(conn, rcpt)
  T.header(conn, "From", "Dave <dave@down.test>")
  T.header(conn, "Subject", "signed, but whose key is out of reach")
  T.header(conn, "X-Sender-Signature", SIG)
  T.check(mt.bodystring(conn, "hello\r\n"), "body")
  T.expect_reply(conn, SMFIR_CONTINUE, "body")
  T.eom(conn)
  return conn
end
T.run("key server down: 451 4.7.5 where it matters, temperror where only checked", function()
  local conn = send("Q31STRICT", "<sam31@sigstrict.test>")
  T.expect_eom_reply(conn, "Q31STRICT", "451", "4.7.5")
  mt.disconnect(conn)
  conn = send("Q31REQ", "<sam31@sigreq.test>")
  T.expect_eom_reply(conn, "Q31REQ", "451", "4.7.5")
  mt.disconnect(conn)
  conn = send("Q31CHECK", "<sam31@sig.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; x-sender-signature=temperror header.from=dave@down.test")
  mt.disconnect(conn)
  if not T.logged("Q31CHECK: mtep:", "sig_reason=key-unavailable", "key_server=127.0.0.1:") then
    error("the decision line does not name the key server", 0)
  end
end)
