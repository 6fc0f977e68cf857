-- MAIL gets no reply (SMFIP_NR_MAIL): the milter must send nothing for it,
-- or every later answer would be read one step late; and nothing it would
-- have refused gets through (the Session repeats a refusal from MAIL at
-- RCPT and end of message, see tests/unit/milter/session_test.cc).
dofile(HELPERS)
T.run("MAIL is answered without a reply, later steps still refuse", function()
  local conn = T.connect("192.0.2.19")
  if not mt.test_option(conn, SMFIP_NR_MAIL) then error("SMFIP_NR_MAIL not requested", 0) end
  T.mail(conn, "Q19NR", "<alice@alpha.test>")
  -- A reply to MAIL, had one been sent, would be read here instead.
  T.rcpt(conn, "<bob>")
  T.expect_rcpt_reply(conn, "Q19NR", "451", "4.1.3")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "no token here")
  T.eom(conn)
  T.expect_eom_reply(conn, "Q19NR", "550", "5.7.25")
  T.expect_no_header_changes(conn)
  -- The next transaction on the connection starts clean.
  T.mail(conn, "Q19NR2", "<carol@alpha.test>")
  T.rcpt(conn, "<carol@quiet.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT of the second transaction")
  mt.disconnect(conn)
end)
