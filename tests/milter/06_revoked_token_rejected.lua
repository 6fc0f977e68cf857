-- A token alpha.test issued to alice and then revoked (mtepctl token
-- revoke; run.sh waits until alpha's mtepd answers D): 550 5.7.25.
dofile(HELPERS)
T.run("revoked token is rejected with 550 5.7.25", function()
  local conn = T.connect("192.0.2.6")
  T.mail(conn, "Q06REVOKED", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_REVOKED)
  T.eom(conn)
  T.expect_eom_reply(conn, "Q06REVOKED", "550", "5.7.25")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)
