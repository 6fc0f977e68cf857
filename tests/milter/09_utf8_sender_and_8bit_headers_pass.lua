-- SMTPUTF8: a UTF-8 local part (jörg@alpha.test, token minted for it) and
-- raw 8-bit header values, and an 8-bit body the milter does not need
-- (no signature policy) and skips.
dofile(HELPERS)
T.run("UTF-8 sender and 8-bit headers pass with a vouched token", function()
  local conn = T.connect("192.0.2.9")
  T.mail(conn, "Q09UTF8", "<jörg@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "Grüße aus Köln \xff\xfe")
  T.header(conn, "From", "Jörg <jörg@alpha.test>")
  T.header(conn, "MTEP-Token", TOKEN_JOERG)
  -- No signature policy for beta.test: the body is not needed.
  T.check(mt.bodystring(conn, "Gr\xfc\xdfe\r\n"), "body")
  T.expect_reply(conn, SMFIR_SKIP, "body")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=jörg@alpha.test")
  mt.disconnect(conn)
end)
