-- sigreq.test requires a passing sender signature from alpha.test: an
-- unsigned message From: alice@alpha.test is refused with 550 5.7.7; the
-- same message From: carol@gamma.test (not required) is delivered
-- untouched, and its body is skipped (SMFIR_SKIP) since nothing needs it.
dofile(HELPERS)
T.run("unsigned mail from a required sender domain is refused 5.7.7", function()
  local conn = T.connect("192.0.2.30")
  T.mail(conn, "Q30UNSIGNED", "<alice@alpha.test>")
  T.rcpt(conn, "<rita30@sigreq.test>")
  T.header(conn, "From", "Alice <alice@alpha.test>")
  T.header(conn, "Subject", "not signed")
  T.check(mt.bodystring(conn, "hello\r\n"), "body")
  T.expect_reply(conn, SMFIR_SKIP, "body")
  T.eom(conn)
  T.expect_eom_reply(conn, "Q30UNSIGNED", "550", "5.7.7")
  if not T.logged("Q30UNSIGNED: mtep: action=reject reason=no-signature", "sig=none") then
    error("no decision line for Q30UNSIGNED", 0)
  end
  mt.disconnect(conn)

  conn = T.connect("192.0.2.30")
  T.mail(conn, "Q30OTHER", "<carol@gamma.test>")
  T.rcpt(conn, "<rita30@sigreq.test>")
  T.header(conn, "From", "carol@gamma.test")
  T.check(mt.bodystring(conn, "hello\r\n"), "body")
  T.expect_reply(conn, SMFIR_SKIP, "body")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)
