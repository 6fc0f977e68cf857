-- Option negotiation: the milter asks for header changes and the macro
-- list only, declines HELO, end of headers and unknown commands,
-- and the connect step (the client's address comes with MAIL as
-- {client_addr}), needs no reply to MAIL (a refusal waits for RCPT) nor
-- per header, keeps MAIL, RCPT, DATA (its answer ends a delayed-ACK stall
-- over TCP), with a reply, headers and the body (this configuration
-- checks sender signatures and stamps; 98_ has one that needs no body),
-- and asks to skip the rest of a body it does not need (SMFIP_SKIP).
dofile(HELPERS)
T.run("negotiation asks only for what the milter uses", function()
  local conn = T.connect("192.0.2.100")
  local function want(kind, test, flag, name, expected)
    if test(conn, flag) ~= expected then
      error(kind .. " " .. name .. (expected and " not requested" or " requested"), 0)
    end
  end
  for name, flag in pairs({ ADDHDRS = SMFIF_ADDHDRS, CHGHDRS = SMFIF_CHGHDRS, SETSYMLIST = SMFIF_SETSYMLIST }) do
    want("action", mt.test_action, flag, name, true)
  end
  for name, flag in pairs({ CHGBODY = SMFIF_CHGBODY, ADDRCPT = SMFIF_ADDRCPT, DELRCPT = SMFIF_DELRCPT,
                            QUARANTINE = SMFIF_QUARANTINE, CHGFROM = SMFIF_CHGFROM }) do
    want("action", mt.test_action, flag, name, false)
  end
  for name, flag in pairs({ NOHELO = SMFIP_NOHELO, NOEOH = SMFIP_NOEOH,
                            NOUNKNOWN = SMFIP_NOUNKNOWN, NR_HDR = SMFIP_NR_HDR, SKIP = SMFIP_SKIP,
                            NOCONNECT = SMFIP_NOCONNECT, NR_MAIL = SMFIP_NR_MAIL }) do
    want("step", mt.test_option, flag, name, true)
  end
  for name, flag in pairs({ NOMAIL = SMFIP_NOMAIL, NORCPT = SMFIP_NORCPT,
                            NOHDRS = SMFIP_NOHDRS, NOBODY = SMFIP_NOBODY, NR_BODY = SMFIP_NR_BODY,
                            NR_RCPT = SMFIP_NR_RCPT, NODATA = SMFIP_NODATA, NR_DATA = SMFIP_NR_DATA }) do
    want("step", mt.test_option, flag, name, false)
  end
  mt.disconnect(conn)
end)
