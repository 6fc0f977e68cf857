#pragma once
// NAME
//   callbacks.h - mtep-milter's libmilter callbacks
// SUMMARY
//   installShared(&shared, gate);    // before smfi_main
//   smfiDesc desc = filterDescription();
//   smfi_register(desc);
// DESCRIPTION
//   Each callback forwards to the connection's milter::Session (stored with
//   smfi_setpriv, created at negotiation with the config snapshot the
//   connection keeps; deleted at close) and turns the
//   Session's Decision into libmilter's answer: smfi_setreply() plus
//   SMFIS_REJECT or SMFIS_TEMPFAIL, or SMFIS_CONTINUE/SMFIS_ACCEPT. Header
//   changes at end of message go through LibmilterActions (milter::Actions
//   over smfi_addheader, smfi_insheader(ctx, 0, ...) and smfi_chgheader(ctx,
//   name, index, NULL)).
//   Negotiation asks for header changes (SMFIF_ADDHDRS, SMFIF_CHGHDRS) and,
//   when offered, the macro list ({i}, {auth_authen}, {client_addr} and
//   {client_name} at MAIL, {i} at end of message); it declines HELO,
//   end of headers and unknown commands, and replies to no header
//   (SMFIP_NR_HDR). Once the macro list is set it also declines the
//   connect step (SMFIP_NOCONNECT). DATA is taken and answered at once:
//   over TCP its answer ends a delayed-ACK stall (callbacks.cc). Each MAIL then tells the Session who
//   the client is, from {client_addr} (an "IPv6:" prefix dropped) and
//   {client_name}; a missing or non-numeric {client_addr} makes the client
//   external, never internal. An MTA without macro lists keeps the connect
//   step, and xxfi_connect's address is used as before. MAIL is answered
//   without a reply (SMFIP_NR_MAIL; libmilter answers CONTINUE itself to an
//   MTA that lacks it): a refusal the Session gives at MAIL it repeats at
//   every RCPT and at end of message, and a MAIL callback that fails makes
//   RCPT and end of message tempfail, so what MAIL refused before is still
//   refused, one step later. RCPT keeps its reply (recipients are refused
//   one by one, 452 and 451 4.1.3). The body step is declined
//   (SMFIP_NOBODY) when no policy of the connection's config can need a
//   body (milter::configNeedsBody: stamps, sender signatures); a reload
//   that adds one applies from the next connection. Otherwise it takes
//   the body and asks for SMFIP_SKIP when offered: a body piece the Session
//   does not need is answered SMFIS_SKIP, so a message without a signature
//   check costs one piece. An MTA that cannot
//   change headers is refused at negotiation (libmilter then drops the
//   connection and the MTA applies its default action for a failed milter;
//   Postfix's milter_default_action is tempfail).
//   Every callback is noexcept: an exception is logged and becomes 451
//   4.3.0 at that step, or at end of message for a header (nothing at abort
//   and close). Every callback runs inside the CallGate: once the daemon is
//   stopping, a callback touches nothing and answers 451 4.3.0.

#include <libmilter/mfapi.h>

#include "shared_state.h"

namespace mtep::milterd {

// The state the callbacks use. `shared` must stay valid until
// gate->closeAndDrain() has returned 0; `gate` for the life of the process.
void installShared(SharedState* shared, CallGate* gate);

// Deletes the connections libmilter dropped without xxfi_close (it does so
// when it stops); returns how many. Only once no callback can run: after
// CallGate::closeAndDrain() has returned 0.
int deleteAbandonedConnections();

// The filter description for smfi_register (name "mtep-milter").
smfiDesc filterDescription();

}  // namespace mtep::milterd
