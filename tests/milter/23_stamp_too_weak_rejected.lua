-- A stamp of 8 bits where stamps.test requires 12: 550 5.7.1 "too-weak",
-- and the fix names the 12 bits. The weak stamp is not spent: the same
-- message with a proper stamp added afterwards passes.
dofile(HELPERS)
T.run("a stamp with too few bits is refused as too-weak", function()
  local weak = T.hashcash_mint(8, "gina23@stamps.test")
  local conn = T.connect("192.0.2.23")
  T.mail(conn, "Q23WEAK", "<zoe@elsewhere.test>")
  T.rcpt(conn, "<gina23@stamps.test>")
  T.header(conn, "X-Hashcash", weak)
  T.eom(conn)
  T.expect_eom_reply(conn, "Q23WEAK", "550", "5.7.1")
  local text = T.reply_text("Q23WEAK")
  for _, want in ipairs({ "gina23@stamps.test (too-weak", "hashcash -m -b 12 -r gina23@stamps.test" }) do
    if not text:find(want, 1, true) then error("reply \"" .. text .. "\" lacks \"" .. want .. "\"", 0) end
  end
  mt.disconnect(conn)

  conn = T.connect("192.0.2.23")
  T.mail(conn, "Q23STRONG", "<zoe@elsewhere.test>")
  T.rcpt(conn, "<gina23@stamps.test>")
  T.header(conn, "X-Hashcash", weak)
  T.header(conn, "Hashcash", T.hashcash_mint(12, "gina23@stamps.test"))
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "with a 12-bit stamp added")
  T.expect_auth_results(conn, "mx.beta.test; x-hashcash=pass")
  mt.disconnect(conn)
end)
