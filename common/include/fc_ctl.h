/* fc_ctl.h - ControlMessage framing shared by the control-plane servers
 * (storage-pool, memory-pool, orderer, compute daemons) and their blocking
 * clients: decoding a received frame, building an Error reply, and
 * encoding+sending a message on an fc_conn or an fc_netc.
 *
 * Nothing here keeps state. A decoded message is the caller's to release
 * with fc_wire_free(&cm->base). Messages passed in stay the caller's; an
 * encoded frame is handed to the connection (fc_conn_send_owned) or freed
 * here on failure. Loop-thread only for the functions taking an fc_conn,
 * like the fc_net.h calls they make. */
#ifndef FC_CTL_H
#define FC_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "fc_net.h"
#include "flexchain.pb-c.h"

/* Decodes one frame as a ControlMessage of at most max_len bytes
 * (fc_wire_decode rules): FC_OK with *cm set, else *cm NULL and errmsg. */
int fc_ctl_decode(const uint8_t *payload, size_t len, size_t max_len,
		  Flexchain__ControlMessage **cm, char *errmsg);

/* Makes *cm an Error reply {code, msg} to request_id, with *e as its body:
 * both are initialised here; msg (NULL for "") is borrowed, not copied. */
void fc_ctl_error(Flexchain__ControlMessage *cm, Flexchain__Error *e, uint64_t request_id, int code,
		  const char *msg);

/* Encodes cm and sends it on conn. On failure (encoding, or the connection
 * refusing the frame: closed, or FC_EBUSY when its queue is full) nothing
 * is sent and the code is returned with errmsg (may be NULL) set. */
int fc_ctl_send(struct fc_conn *conn, const Flexchain__ControlMessage *cm, char *errmsg);

/* fc_ctl_error + fc_ctl_send. */
int fc_ctl_reply_error(struct fc_conn *conn, uint64_t request_id, int code, const char *msg,
		       char *errmsg);

/* The blocking client side (fc_netc, any thread that owns the client):
 * encode cm and send it within timeout_ms; receive one frame of at most
 * max_len bytes (0 = fc_netc_recv's default) within timeout_ms and decode it into
 * *cm (the caller's, fc_wire_free). errmsg may be NULL. */
int fc_ctl_netc_send(struct fc_netc *c, const Flexchain__ControlMessage *cm, unsigned timeout_ms,
		     char *errmsg);
int fc_ctl_netc_recv(struct fc_netc *c, size_t max_len, unsigned timeout_ms,
		     Flexchain__ControlMessage **cm, char *errmsg);

/* One request on a fresh blocking connection: connect to host:port within
 * connect_ms, send cm and receive one reply, each within timeout_ms, close.
 * On FC_OK *reply is the caller's (fc_wire_free); otherwise NULL. */
int fc_ctl_netc_call(const char *host, uint16_t port, const Flexchain__ControlMessage *cm,
		     unsigned connect_ms, unsigned timeout_ms, Flexchain__ControlMessage **reply,
		     char *errmsg);

#endif
