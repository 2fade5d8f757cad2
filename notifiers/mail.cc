#include "notifiers/mail.h"

// openssl/ssl.h first: libesmtp declares smtp_starttls_set_ctx only then.
// clang-format off
#include <openssl/ssl.h>
#include <auth-client.h>
#include <libesmtp.h>
// clang-format on

#include <cstdarg>
#include <cstring>
#include <mutex>

namespace ehabus::notifiers {
namespace {

struct Credentials {
  std::string user, password;
};

// libesmtp asks for the user and password through this.
int Interact(auth_client_request_t request, char** result, int fields,
             void* arg) {
  auto* c = static_cast<Credentials*>(arg);
  for (int i = 0; i < fields; ++i) {
    if (request[i].flags & AUTH_USER)
      result[i] = const_cast<char*>(c->user.c_str());
    else if (request[i].flags & AUTH_PASS)
      result[i] = const_cast<char*>(c->password.c_str());
    else
      return 0;
  }
  return 1;
}

// The relay's certificate is not checked against a CA here (relays on a
// private network mostly have their own); STARTTLS still encrypts. Events
// that ask whether to go on are answered yes, and recorded.
struct Events {
  std::string tls;
};

void OnEvent(smtp_session_t, int event, void* arg, ...) {
  auto* e = static_cast<Events*>(arg);
  va_list ap;
  va_start(ap, arg);
  switch (event) {
    case SMTP_EV_INVALID_PEER_CERTIFICATE: {
      va_arg(ap, long);  // the verification result
      int* ok = va_arg(ap, int*);
      *ok = 1;
      e->tls = "certificate not verified";
      break;
    }
    case SMTP_EV_NO_PEER_CERTIFICATE:
    case SMTP_EV_WRONG_PEER_CERTIFICATE: {
      int* ok = va_arg(ap, int*);
      *ok = 1;
      e->tls = "certificate not verified";
      break;
    }
    case SMTP_EV_STARTTLS_OK:
      if (e->tls.empty()) e->tls = "TLS";
      break;
    default:
      break;
  }
  va_end(ap);
}

std::once_flag g_auth_init;

}  // namespace

SendResult SendMail(const MailSettings& settings, const std::string& message) {
  std::call_once(g_auth_init, [] { auth_client_init(); });
  SendResult result;
  std::string where = "relay " + settings.relay;
  smtp_session_t session = smtp_create_session();
  if (!session) {
    result.detail = where + ": cannot create an SMTP session";
    return result;
  }
  struct Cleanup {
    smtp_session_t session;
    auth_context_t auth = nullptr;
    SSL_CTX* tls = nullptr;
    ~Cleanup() {
      smtp_destroy_session(session);
      if (auth) auth_destroy_context(auth);
      if (tls) SSL_CTX_free(tls);
    }
  } cleanup{session};
  // Our own TLS context per session: libesmtp's shared default context is
  // damaged by the first session's end (a use-after-free under ASan on the
  // second STARTTLS session).
  cleanup.tls = SSL_CTX_new(TLS_client_method());
  if (cleanup.tls) {
    SSL_CTX_set_min_proto_version(cleanup.tls, TLS1_2_VERSION);
    smtp_starttls_set_ctx(session, cleanup.tls);
  }
  smtp_set_server(session, settings.relay.c_str());
  long ms = static_cast<long>(settings.timeout.count());
  for (int which : {Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA,
                    Timeout_TRANSFER, Timeout_DATA2})
    smtp_set_timeout(session, which | Timeout_OVERRIDE_RFC2822_MINIMUM, ms);
  Events events;
  smtp_set_eventcb(session, OnEvent, &events);
  smtp_starttls_enable(
      session,
      settings.starttls == MailSettings::Tls::kRequired   ? Starttls_REQUIRED
      : settings.starttls == MailSettings::Tls::kOptional ? Starttls_ENABLED
                                                          : Starttls_DISABLED);
  Credentials credentials{settings.user, settings.password};
  if (!settings.user.empty()) {
    cleanup.auth = auth_create_context();
    auth_set_mechanism_flags(cleanup.auth, AUTH_PLUGIN_PLAIN, 0);
    auth_set_interact_cb(cleanup.auth, Interact, &credentials);
    smtp_auth_set_context(session, cleanup.auth);
  }
  smtp_message_t msg = smtp_add_message(session);
  smtp_set_reverse_path(msg, settings.from.c_str());
  for (const auto& to : settings.to) smtp_add_recipient(msg, to.c_str());
  smtp_set_message_str(msg, const_cast<char*>(message.c_str()));

  if (!smtp_start_session(session)) {
    char buf[128];
    int error = smtp_errno();
    result.detail = where + ": " + smtp_strerror(error, buf, sizeof buf);
    return result;  // no connection, TLS refused, timeout: temporary
  }
  const smtp_status_t* status = smtp_message_transfer_status(msg);
  // Refused before DATA: the reply to MAIL FROM says why.
  if (!status || status->code == 0) status = smtp_reverse_path_status(msg);
  std::string text = status && status->text ? status->text : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  int code = status ? status->code : 0;
  if (code == 0) text = "no reply from the relay";
  // A refused recipient or sender shows in the message status as well;
  // per-recipient refusals are named.
  std::string refused;
  smtp_enumerate_recipients(
      msg,
      [](smtp_recipient_t r, const char* mailbox, void* arg) {
        const smtp_status_t* s = smtp_recipient_status(r);
        if (s && s->code >= 400) {
          auto* out = static_cast<std::string*>(arg);
          *out += (out->empty() ? "" : ", ") + std::string(mailbox) + " " +
                  std::to_string(s->code);
        }
      },
      &refused);
  result.detail = where + ": " + std::to_string(code) + " " + text;
  if (!refused.empty())
    result.detail.append(" (refused: ").append(refused).append(")");
  if (!events.tls.empty())
    result.detail.append(" [").append(events.tls).append("]");
  result.ok = code >= 200 && code < 300 && refused.empty();
  result.permanent = code >= 500;
  return result;
}

}  // namespace ehabus::notifiers
