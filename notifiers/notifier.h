// A notifier daemon: incidents from the bus (incident.h), each notice
// spooled (spool.h) and handed to a channel (mail, exec...), retried with
// backoff while the channel fails, reported on the bus (notify.CHANNEL.*).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/config.h"
#include "notifiers/incident.h"
#include "notifiers/mail.h"
#include "notifiers/render.h"

namespace ehabus::notifiers {

// Delivers one notice; SendResult says sent, temporary or permanent.
class Channel {
 public:
  virtual ~Channel() = default;
  virtual SendResult Deliver(const std::string& id,
                             const nlohmann::json& incident) = 0;
};

// Mail through an SMTP relay, rendered from a template.
class MailChannel : public Channel {
 public:
  MailChannel(MailSettings settings, Template tmpl, std::string customer,
              std::string language);
  SendResult Deliver(const std::string& id,
                     const nlohmann::json& incident) override;

 private:
  MailSettings settings_;
  Template template_;
  std::string customer_, language_;
};

// A command per notice, the incident's JSON on its stdin, with a timeout
// (the successor of the toolkit's message_agent). Exit 0: delivered; exit
// 75 (EX_TEMPFAIL) or a timeout: try again later; anything else: failed.
class ExecChannel : public Channel {
 public:
  ExecChannel(std::vector<std::string> command,
              std::chrono::milliseconds timeout, std::string scratch_dir);
  SendResult Deliver(const std::string& id,
                     const nlohmann::json& incident) override;

 private:
  std::vector<std::string> command_;
  std::chrono::milliseconds timeout_;
  std::string scratch_dir_;
};

// An HTTP(S) POST of the incident's JSON (libcurl), with a deadline. 2xx:
// delivered; 408, 429, 5xx or no answer: try again later; other 4xx:
// failed. The URL comes from the configuration only, never from events.
class WebhookChannel : public Channel {
 public:
  WebhookChannel(std::string url, std::vector<std::string> headers,
                 std::chrono::milliseconds timeout, bool verify_tls);
  SendResult Deliver(const std::string& id,
                     const nlohmann::json& incident) override;

 private:
  std::string url_;
  std::vector<std::string> headers_;
  std::chrono::milliseconds timeout_;
  bool verify_tls_;
};

// Runs the notifier NAME ("mail", "exec") from [notify.NAME] of CONFIG.
int RunNotifier(const std::string& name, const Config& config,
                std::unique_ptr<Channel> channel,
                const std::atomic<bool>& stop);

}  // namespace ehabus::notifiers
