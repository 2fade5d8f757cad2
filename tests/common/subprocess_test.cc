#include "common/subprocess.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/testing/bus_fixture.h"

namespace ehabus {
namespace {

using namespace std::chrono_literals;

// Gone or a zombie (its parent died; whoever inherits it may not reap it).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  if (!(stat >> pid_field >> comm >> state)) return true;
  return state == "Z" || state == "X";
}

SpawnOptions Capture(std::vector<std::string> argv) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.output = SpawnOptions::Output::kCapture;
  return options;
}

TEST(SubprocessTest, CapturesOutputAndExitStatus) {
  auto child = Subprocess::Spawn(
      Capture({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}));
  ASSERT_TRUE(child) << child.error().message;
  auto status = child->Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(DescribeWaitStatus(*status), "exit 3");
  EXPECT_EQ(child->output(), "out\nerr\n");
}

TEST(SubprocessTest, StdinIsDevNull) {
  auto child = Subprocess::Spawn(Capture({"/bin/sh", "-c", "cat; echo done"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->Wait(10s));
  EXPECT_EQ(child->output(), "done\n");
}

TEST(SubprocessTest, MissingProgramIsAnError) {
  auto child = Subprocess::Spawn(Capture({"/nonexistent/program"}));
  ASSERT_FALSE(child);
  EXPECT_EQ(child.error().message,
            "spawn /nonexistent/program: No such file or directory");
}

TEST(SubprocessTest, WaitTimesOutAndStopKillsTheWholeGroup) {
  testing::TempDir dir;
  std::string pidfile = dir.path() + "/grandchild.pid";
  // The grandchild ignores SIGTERM, so only SIGKILL to the group ends it.
  auto child =
      Subprocess::Spawn(Capture({"/bin/sh", "-c",
                                 "sh -c 'trap \"\" TERM; echo $$ > " + pidfile +
                                     "; exec sleep 300' & wait"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        std::error_code ec;
        return std::filesystem::file_size(pidfile, ec) > 0 && !ec;
      },
      10s));
  EXPECT_FALSE(child->Wait(100ms).has_value());
  pid_t grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  int status = child->Stop(200ms);
  EXPECT_NE(status, -1);
  EXPECT_TRUE(testing::WaitUntil([&] { return Dead(grandchild); }, 10s))
      << "grandchild " << grandchild << " survived";
}

TEST(SubprocessTest, NoDescriptorLeaksIntoTheChild) {
  // A descriptor opened without O_CLOEXEC (as a library might) must still
  // not reach the child: it sees 0, 1, 2 and ls's own directory handle.
  int leaky = open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 3);
  auto child = Subprocess::Spawn(
      Capture({"/bin/sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"}));
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->Wait(10s));
  EXPECT_EQ(child->output(), "0 1 2 3 ");  // 3: ls reading /proc/self/fd
  close(leaky);
}

TEST(SubprocessTest, CaptureIsBounded) {
  SpawnOptions options = Capture({"/bin/sh", "-c", "head -c 100000 /dev/zero"});
  options.capture_limit = 1000;
  auto child = Subprocess::Spawn(options);
  ASSERT_TRUE(child);
  ASSERT_TRUE(child->Wait(10s));
  EXPECT_EQ(child->output().size(), 1000u);
  EXPECT_TRUE(child->output_truncated());
}

TEST(SubprocessTest, DestructorKillsARunningChild) {
  pid_t pid = 0;
  {
    auto child = Subprocess::Spawn(Capture({"/bin/sleep", "300"}));
    ASSERT_TRUE(child);
    pid = child->pid();
  }
  EXPECT_TRUE(Dead(pid)) << "child " << pid << " outlived its owner";
}

}  // namespace
}  // namespace ehabus
