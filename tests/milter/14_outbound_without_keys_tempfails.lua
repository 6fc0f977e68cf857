-- A second milter started before any key file existed (run.sh: key_file
-- points at a missing file). It runs, but outbound mail that needs a
-- token is tempfailed with 451 4.3.0; inbound checking is unaffected.
dofile(HELPERS)
MILTER = NOKEYS_MILTER
MILTER_LOG = NOKEYS_LOG
T.run("without a key file outbound mail tempfails with 451 4.3.0", function()
  if not T.logged("outbound mail that needs a token is tempfailed") then
    error("no start-up warning about the missing key file", 0)
  end
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "Q14NOKEYS", "<dave@beta.test>")
  T.rcpt(conn, "<erin@gamma.test>")
  T.header(conn, "Subject", "hello")
  T.eom(conn)
  T.expect_eom_reply(conn, "Q14NOKEYS", "451", "4.3.0")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)

  conn = T.connect("192.0.2.14")
  T.mail(conn, "Q14INBOUND", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "inbound end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)
