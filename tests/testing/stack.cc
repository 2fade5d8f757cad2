#include "tests/testing/stack.h"

#include <signal.h>

#include <fstream>
#include <sstream>

namespace ehabus::testing {
namespace {

std::string ShellQuote(const std::string& word) {
  std::string out = "'";
  for (char c : word)
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& w : argv) {
    if (!out.empty()) out.push_back(' ');
    out.append(ShellQuote(w));
  }
  return out;
}

}  // namespace

Stack::Stack() {
  script_ = dir_.path() + "/stack.sh";
  memcached_pid_ = dir_.path() + "/memcached.pid";
  std::ofstream out(script_);
  out << "#!/bin/sh\n# Controls the test stack: SERVICE start|stop.\n"
      << "log=" << ShellQuote(dir_.path() + "/stack.log") << "\n"
      << "echo \"$(date +%s.%N) $1 $2\" >> \"$log\"\n"
      << "stop() { pid=$(cat \"$1\" 2>/dev/null) && kill -TERM \"$pid\"; "
         "exit 0; }\n"
      << "case \"$1:$2\" in\n"
      << "mariadb:start) setsid " << Command(mariadb_.Argv())
      << " </dev/null >>\"$log\" 2>&1 & ;;\n"
      << "mariadb:stop) stop " << ShellQuote(mariadb_.pidfile()) << " ;;\n"
      << "memcached:start) setsid " << Command(memcached_.Argv())
      << " </dev/null >>\"$log\" 2>&1 & echo $! > "
      << ShellQuote(memcached_pid_) << " ;;\n"
      << "memcached:stop) stop " << ShellQuote(memcached_pid_) << " ;;\n"
      << "postfix:start) setsid " << Command(postfix_.Argv())
      << " </dev/null >>\"$log\" 2>&1 & ;;\n"
      << "postfix:stop) stop " << ShellQuote(postfix_.pidfile()) << " ;;\n"
      << "dovecot:start) setsid " << Command(dovecot_.Argv())
      << " </dev/null >>\"$log\" 2>&1 & ;;\n"
      << "dovecot:stop) stop " << ShellQuote(dovecot_.pidfile()) << " ;;\n"
      << "*) echo \"unknown: $1 $2\"; exit 2 ;;\n"
      << "esac\nexit 0\n";
}

Stack::~Stack() { StopByPidfile(memcached_pid_); }

std::string Stack::Profile() const {
  std::ostringstream p;
  p << "[profile]\nname = test-stack\n"
    << "start = /bin/sh " << script_ << " {service} start\n"
    << "stop = /bin/sh " << script_ << " {service} stop\n"
    << "[service.mariadb]\ncheck = mysql\nport = " << mariadb_.port()
    << "\npidfile = " << mariadb_.pidfile() << "\nprocess = mariadbd\n"
    << "[service.memcached]\ncheck = memcached\nport = " << memcached_.port()
    << "\npidfile = " << memcached_pid_ << "\nprocess = memcached\n"
    << "[service.postfix]\ncheck = smtp\nport = " << postfix_.smtp_port()
    << "\npidfile = " << postfix_.pidfile()
    << "\nprocess = master\ndepends = mariadb\n"
    << "[service.dovecot]\ncheck = imap\nport = " << dovecot_.imap_port()
    << "\npidfile = " << dovecot_.pidfile()
    << "\nprocess = dovecot\ndepends = mariadb\n";
  return p.str();
}

bool Stack::Control(const std::string& service, const std::string& action) {
  return Run({"/bin/sh", script_, service, action}).exit_code() == 0;
}

bool Stack::StartAll() {
  for (const char* s : {"mariadb", "memcached", "postfix", "dovecot"})
    if (!Control(s, "start")) return false;
  return WaitUntil(
      [&] {
        return Listening(mariadb_.port()) && Listening(memcached_.port()) &&
               Listening(postfix_.smtp_port()) &&
               Listening(dovecot_.imap_port()) &&
               ReadPid(mariadb_.pidfile()) > 0 &&
               ReadPid(postfix_.pidfile()) > 0 &&
               ReadPid(dovecot_.pidfile()) > 0;
      },
      60s);
}

pid_t Stack::Pid(const std::string& service) const {
  if (service == "mariadb") return ReadPid(mariadb_.pidfile());
  if (service == "memcached") return ReadPid(memcached_pid_);
  if (service == "postfix") return ReadPid(postfix_.pidfile());
  return ReadPid(dovecot_.pidfile());
}

void Stack::Kill(const std::string& service) { kill(Pid(service), SIGKILL); }

std::string Stack::Log() const {
  std::ifstream in(dir_.path() + "/stack.log");
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>()) +
         "---- dovecot ----\n" + dovecot_.Log() + "---- postfix ----\n" +
         postfix_.Log();
}

}  // namespace ehabus::testing
