-- Without the connect step (SMFIP_NOCONNECT, asked when the MTA takes a
-- macro list) the client's address comes with each MAIL as {client_addr}.
-- An internal address there makes the mail outbound; a missing or unusable
-- one leaves the client outside, so a sender claiming our own domain is
-- still checked. An MTA without macro lists keeps the connect step.
dofile(HELPERS)

local function internal_mail_gets_token(conn, qid)
  T.mail(conn, qid, "<carol@beta.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "from inside")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if not mt.eom_check(conn, MT_HDRADD, "MTEP-Token") then
    error(qid .. ": the internal client got no MTEP-Token", 0)
  end
end

T.run("the client's address is taken from the MAIL macros, failing closed", function()
  local conn = T.connect("127.0.0.1")
  if not mt.test_option(conn, SMFIP_NOCONNECT) then error("SMFIP_NOCONNECT not requested", 0) end
  internal_mail_gets_token(conn, "Q18IN1")
  -- Every MAIL of the connection carries it.
  internal_mail_gets_token(conn, "Q18IN2")
  mt.disconnect(conn)

  -- No {client_addr} at all, or one that is not a numeric address: an
  -- outside client, checked like any other, and refused without a token.
  for i, addr in ipairs({ "none", "unknown", "[127.0.0.1]", "127.0.0.1.example" }) do
    local qid = "Q18OUT" .. i
    local c = T.connect(addr ~= "none" and addr or nil)
    T.mail(c, qid, "<carol@beta.test>")
    T.rcpt(c, "<bob@beta.test>")
    T.expect_reply(c, SMFIR_CONTINUE, "RCPT")
    T.header(c, "Subject", "from outside")
    T.eom(c)
    T.expect_eom_reply(c, qid, "550", "5.7.25")
    if mt.eom_check(c, MT_HDRADD, "MTEP-Token") then
      error(qid .. ": {client_addr} " .. addr .. " was taken as internal", 0)
    end
    mt.disconnect(c)
  end

  -- An MTA that cannot take a macro list: the connect step stays.
  local old = mt.connect(MILTER, 40, 0.25)
  if old == nil then error("cannot connect to " .. MILTER, 0) end
  T.check(mt.negotiate(old, nil, nil, SMFIF_ADDHDRS + SMFIF_CHGHDRS), "negotiate")
  if mt.test_option(old, SMFIP_NOCONNECT) then
    error("SMFIP_NOCONNECT requested from an MTA without SMFIF_SETSYMLIST", 0)
  end
  T.check(mt.conninfo(old, "client.example", "127.0.0.1"), "conninfo")
  T.expect_reply(old, SMFIR_CONTINUE, "connect")
  internal_mail_gets_token(old, "Q18OLD")
  mt.disconnect(old)
end)
