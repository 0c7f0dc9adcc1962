/* ControlMessage framing for the control-plane servers (fc_ctl.h). */
#include "fc_ctl.h"
#include "fc_err.h"
#include "fc_mem.h"
#include "fc_wire.h"

int fc_ctl_decode(const uint8_t *payload, size_t len, size_t max_len,
		  Flexchain__ControlMessage **cm, char *errmsg)
{
	return fc_wire_decode(&flexchain__control_message__descriptor, payload, len, max_len,
			      (ProtobufCMessage **)cm, errmsg);
}

void fc_ctl_error(Flexchain__ControlMessage *cm, Flexchain__Error *e, uint64_t request_id, int code,
		  const char *msg)
{
	flexchain__control_message__init(cm);
	flexchain__error__init(e);
	e->code = (uint32_t)code;
	e->message = (char *)(msg ? msg : "");
	cm->request_id = request_id;
	cm->body_case = FLEXCHAIN__CONTROL_MESSAGE__BODY_ERROR;
	cm->error = e;
}

int fc_ctl_send(struct fc_conn *conn, const Flexchain__ControlMessage *cm, char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = fc_wire_encode(&cm->base, &buf, &len, errmsg);

	if (rc != FC_OK)
		return rc;
	rc = fc_conn_send_owned(conn, buf, len);
	if (rc != FC_OK) {
		fc_free(buf);
		return fc_errf(errmsg, rc, "send to %s: %s", fc_conn_peer(conn), fc_strerror(rc));
	}
	return FC_OK;
}

int fc_ctl_reply_error(struct fc_conn *conn, uint64_t request_id, int code, const char *msg,
		       char *errmsg)
{
	Flexchain__ControlMessage cm;
	Flexchain__Error e;

	fc_ctl_error(&cm, &e, request_id, code, msg);
	return fc_ctl_send(conn, &cm, errmsg);
}

int fc_ctl_netc_send(struct fc_netc *c, const Flexchain__ControlMessage *cm, unsigned timeout_ms,
		     char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = fc_wire_encode(&cm->base, &buf, &len, errmsg);

	if (rc == FC_OK)
		rc = fc_netc_send(c, buf, len, timeout_ms, errmsg);
	fc_free(buf);
	return rc;
}

int fc_ctl_netc_recv(struct fc_netc *c, size_t max_len, unsigned timeout_ms,
		     Flexchain__ControlMessage **cm, char *errmsg)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	*cm = NULL;
	rc = fc_netc_recv(c, &buf, &len, max_len, timeout_ms, errmsg);
	if (rc != FC_OK)
		return rc;
	rc = fc_ctl_decode(buf, len, max_len ? max_len : FC_WIRE_MAX_MSG, cm, errmsg);
	fc_free(buf);
	return rc;
}

int fc_ctl_netc_call(const char *host, uint16_t port, const Flexchain__ControlMessage *cm,
		     unsigned connect_ms, unsigned timeout_ms, Flexchain__ControlMessage **reply,
		     char *errmsg)
{
	struct fc_netc *c = NULL;
	int rc;

	*reply = NULL;
	rc = fc_netc_connect(host, port, connect_ms, &c, errmsg);
	if (rc == FC_OK)
		rc = fc_ctl_netc_send(c, cm, timeout_ms, errmsg);
	if (rc == FC_OK)
		rc = fc_ctl_netc_recv(c, 0, timeout_ms, reply, errmsg);
	fc_netc_close(c);
	return rc;
}
