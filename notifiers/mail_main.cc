// ehabus-notify-mail: one readable mail per incident, through a relay.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>

#include "common/daemon.h"
#include "common/log.h"
#include "notifiers/notifier.h"

namespace {

int Main(int argc, char** argv) {
  ehabus::InitLogging("notify-mail");
  auto config_path = ehabus::DaemonConfigFlag(
      argc, argv, "usage: ehabus-notify-mail [--config FILE]");
  if (!config_path) return 2;
  auto config = ehabus::LoadConfigOrReport(*config_path);
  if (!config) return ehabus::kExitConfig;
  ehabus::InitLogging("notify-mail", *config);
  const char* s = "notify.mail";
  ehabus::notifiers::MailSettings mail;
  mail.relay = config->String(s, "relay");
  std::string tls = config->String(s, "starttls");
  mail.starttls =
      tls == "required" ? ehabus::notifiers::MailSettings::Tls::kRequired
      : tls == "no"     ? ehabus::notifiers::MailSettings::Tls::kNo
                        : ehabus::notifiers::MailSettings::Tls::kOptional;
  mail.user = config->String(s, "user");
  mail.from = config->String(s, "from");
  mail.to = config->List(s, "to");
  mail.timeout = config->Duration(s, "timeout");
  auto where = [&](const char* key) {
    auto at = config->Where(s, key);
    return at ? at->file + ":" + std::to_string(at->line) + ": "
              : *config_path + ": ";
  };
  if (mail.relay.empty()) {
    std::fprintf(stderr,
                 "%s[notify.mail] relay: none given (HOST:PORT of a relay; "
                 "the local MTA only if you mean it)\n",
                 where("relay").c_str());
    return ehabus::kExitConfig;
  }
  if (mail.to.empty()) {
    std::fprintf(stderr, "%s[notify.mail] to: no recipients\n",
                 where("to").c_str());
    return ehabus::kExitConfig;
  }
  if (!mail.user.empty()) {
    std::string file = config->String(s, "password_file");
    std::ifstream in(file);
    if (!in || !std::getline(in, mail.password)) {
      std::fprintf(stderr, "%s[notify.mail] password_file: cannot read %s\n",
                   where("password_file").c_str(), file.c_str());
      return ehabus::kExitConfig;
    }
    struct stat st {};
    if (stat(file.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
      spdlog::warn("{} is readable by others; it holds a password", file);
  }
  std::string language = config->String(s, "language");
  std::string template_path =
      config->String(s, "template_dir") + "/" + language + ".txt";
  auto tmpl = ehabus::notifiers::LoadTemplate(template_path);
  if (!tmpl) {
    std::fprintf(stderr, "%s\n", tmpl.error().message.c_str());
    return ehabus::kExitConfig;
  }
  const auto& stop = ehabus::InstallStopSignals();
  return ehabus::notifiers::RunNotifier(
      "mail", *config,
      std::make_unique<ehabus::notifiers::MailChannel>(
          mail, *tmpl, config->String(s, "customer"), language),
      stop);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    spdlog::critical("notify-mail failed: {}", e.what());
    return 1;
  }
}
