-- Outbound (client 127.0.0.1 is internal) from tok.test, whose domain has
-- distribute_submission_tokens: one Submission-Token (52 base64url
-- characters) for the one recipient; with several recipients, only for
-- those shown in To or Cc, so a Bcc recipient's token never appears in the
-- headers every recipient sees. A Submission-Token the user's client
-- wrote is left alone. beta.test does not distribute: no header.
dofile(HELPERS)
T.run("outbound mail gets a Submission-Token per visible recipient", function()
  local function token_at(conn, i)
    local v = mt.getheader(conn, "Submission-Token", i)
    if v == nil then return nil end
    if #v ~= 52 or not v:match("^[A-Za-z0-9_-]+$") then error("not a token: " .. v, 0) end
    return v
  end

  local conn = T.connect("127.0.0.1")
  T.mail(conn, "Q40ONE", "<bob@tok.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<alice@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "hello")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if token_at(conn, 0) == nil then error("no Submission-Token for the one recipient", 0) end
  if mt.getheader(conn, "Submission-Token", 1) ~= nil then error("more than one Submission-Token", 0) end
  if not T.logged("Q40ONE: stoken: action=added rcpt=<alice@alpha.test> sender=<bob@tok.test>") then
    error("the added token is not logged", 0)
  end
  mt.disconnect(conn)

  conn = T.connect("127.0.0.1")
  T.mail(conn, "Q40BCC", "<bob@tok.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  for _, r in ipairs({ "<alice@alpha.test>", "<carol@gamma.test>", "<hidden@delta.test>" }) do
    T.rcpt(conn, r)
    T.expect_reply(conn, SMFIR_CONTINUE, "RCPT " .. r)
  end
  T.header(conn, "To", "Alice <alice@alpha.test>")
  T.header(conn, "Cc", "\"Carol, C.\" <Carol@Gamma.Test>")
  T.header(conn, "Submission-Token", "users-own-value")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  local first, second = token_at(conn, 0), token_at(conn, 1)
  if first == nil or second == nil then error("want a token for alice and carol", 0) end
  if first == second then error("alice and carol got the same token", 0) end
  if mt.getheader(conn, "Submission-Token", 2) ~= nil then error("the Bcc recipient got a visible token", 0) end
  if mt.eom_check(conn, MT_HDRDELETE, "Submission-Token", 1) then error("the user's header was deleted", 0) end
  if T.logged("Q40BCC: stoken: action=added rcpt=<hidden@delta.test>") then
    error("a token was made for the Bcc recipient", 0)
  end
  mt.disconnect(conn)

  conn = T.connect("127.0.0.1")
  T.mail(conn, "Q40OFF", "<dave@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<alice@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if mt.getheader(conn, "Submission-Token", 0) ~= nil then error("beta.test does not distribute tokens", 0) end
  mt.disconnect(conn)
end)
