-- Inbound (client 192.0.2.41) from alice@alpha.test to two users of
-- tok.test (accept_submission_tokens): each Submission-Token whose remote
-- tag names a recipient is held for it (local = the recipient, remote =
-- the sender), as mtepctl stoken list shows; the token naming nobody here
-- is not held; the headers stay. Then a token in another site's format,
-- the message's only one, for its only recipient here: held too. The
-- message is delivered in every case.
dofile(HELPERS)
T.run("inbound Submission-Token headers are held for the recipients they name", function()
  local ctl = MTEPCTL .. " -c " .. MILTER_CONF .. " stoken "
  -- Tokens in this suite's format, made by tok.test's own keys for the test:
  -- remote bob / dan (who receives the header), local alice@tok.test.
  local for_bob = T.shell(ctl .. "gen TEMP bob@tok.test alice@tok.test")
  local for_dan = T.shell(ctl .. "gen TEMP dan@tok.test alice@tok.test")
  local for_eve = T.shell(ctl .. "gen TEMP eve@tok.test alice@tok.test")
  if #for_bob ~= 52 or #for_dan ~= 52 or #for_eve ~= 52 then error("mtepctl stoken gen failed", 0) end

  local conn = T.connect("192.0.2.41")
  T.mail(conn, "Q41IN", "<alice@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<bob@tok.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT bob")
  T.rcpt(conn, "<dan@tok.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT dan")
  T.header(conn, "Submission-Token", for_eve)
  T.header(conn, "Submission-Token", for_dan)
  T.header(conn, "Submission-Token", " " .. for_bob)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)

  local list = T.shell(ctl .. "list")
  for _, who in ipairs({ "bob", "dan" }) do
    if not list:find("held temporary local=" .. who .. "@tok.test remote=alice@alpha.test", 1, true) then
      error("no token held for " .. who .. ":\n" .. list, 0)
    end
  end
  if list:find("local=eve@tok.test", 1, true) then error("eve got a token without a message", 0) end
  if list:find(for_bob, 1, true) then error("mtepctl stoken list printed a token", 0) end

  local conn2 = T.connect("192.0.2.42")
  T.mail(conn2, "Q41FOREIGN", "<alice@alpha.test>")
  T.expect_reply(conn2, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn2, "<carl@tok.test>")
  T.expect_reply(conn2, SMFIR_CONTINUE, "RCPT carl")
  T.header(conn2, "Submission-Token", "s6xW15h9Dh")
  T.eom(conn2)
  T.expect_reply(conn2, SMFIR_CONTINUE, "end of message")
  mt.disconnect(conn2)
  if not T.shell(ctl .. "list carl@tok.test"):find("held temporary local=carl@tok.test remote=alice@alpha.test", 1, true) then
    error("the one foreign-format token for the one recipient was not held", 0)
  end
end)
