-- Inbound mail carrying Authentication-Results that claim our authserv-id
-- (plain and quoted, any case): those are deleted, highest index first;
-- another server's A-R stays; ours is inserted at the top.
dofile(HELPERS)
T.run("Authentication-Results claiming our authserv-id are removed", function()
  local conn = T.connect("192.0.2.12")
  T.mail(conn, "Q12SPOOF", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "Authentication-Results", "mx.beta.test; mtep=pass smtp.mailfrom=ceo@beta.test")
  T.header(conn, "Authentication-Results", "other.example; spf=pass smtp.mailfrom=alpha.test")
  T.header(conn, "Authentication-Results", " (comment) \"MX.Beta.Test\"; dkim=pass")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if not mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results", 3) then error("spoofed A-R #3 kept", 0) end
  if not mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results", 1) then error("spoofed A-R #1 kept", 0) end
  if mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results", 2) then error("other.example's A-R deleted", 0) end
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)
