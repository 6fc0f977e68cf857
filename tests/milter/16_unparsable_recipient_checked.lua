-- Issue 13: a recipient our address parser refuses (a local part over 64
-- octets, which Postfix takes) gets its domain's policy: beta.test requires
-- MTEP, so without a token the message is refused 550 5.7.25; it used to be
-- delivered unchecked. A recipient with no domain at all is tempfailed at
-- RCPT with 451 4.1.3, since require_mtep applies somewhere.
dofile(HELPERS)
T.run("a 74-octet local part at beta.test needs MTEP", function()
  local conn = T.connect("192.0.2.16")
  T.mail(conn, "Q16LONG", "<alice@alpha.test>")
  T.rcpt(conn, "<bob+" .. string.rep("a", 70) .. "@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT with a long local part")
  T.header(conn, "Subject", "no token here")
  T.eom(conn)
  T.expect_eom_reply(conn, "Q16LONG", "550", "5.7.25")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)
T.run("a recipient without a domain is tempfailed at RCPT", function()
  local conn = T.connect("192.0.2.16")
  T.mail(conn, "Q16NODOM", "<alice@alpha.test>")
  T.rcpt(conn, "<bob>")
  T.expect_rcpt_reply(conn, "Q16NODOM", "451", "4.1.3")
  mt.disconnect(conn)
end)
