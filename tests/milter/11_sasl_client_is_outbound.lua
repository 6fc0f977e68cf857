-- A client outside internal_networks that authenticated ({auth_authen} at
-- MAIL) sends outbound: it gets a token, even to a require_mtep domain,
-- and is not checked.
dofile(HELPERS)
T.run("SASL-authenticated client gets a token and is not checked", function()
  local conn = T.connect("192.0.2.11")
  T.mail(conn, "Q11SASL", "<dave@beta.test>", "dave")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "from my phone")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if not mt.eom_check(conn, MT_HDRADD, "MTEP-Token") then error("no MTEP-Token added", 0) end
  if mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results") then error("authenticated mail was checked", 0) end
  mt.disconnect(conn)
end)
