// tests/support/preload/slow_fsync.c — an LD_PRELOAD shim that makes one
// node's Raft log fsyncs slow, for integration tests of what a slow disk does
// to replication (tests/integration/slow_disk_test.cc).
//
// It interposes fdatasync(2) and fsync(2): before the real call, if the file
// is a Raft log segment ("log-*.seg") and its directory holds a file named
// "slow-fsync-ms", it sleeps for the number of milliseconds written there.
// The test writes that file into one node's data directory while the node
// runs, so the delay can be switched on for the node that became leader, and
// off again by removing it. Every other process (and every other file) is
// untouched, so the shim may sit in the environment of a whole test.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// The delay configured for the file open as `fd`, in ms; 0 for none.
static long configured_delay_ms(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  char* slash = strrchr(path, '/');
  if (slash == NULL || strncmp(slash + 1, "log-", 4) != 0) return 0;
  size_t name_len = strlen(slash + 1);
  if (name_len < 4 || strcmp(slash + 1 + name_len - 4, ".seg") != 0) return 0;
  static const char kName[] = "slow-fsync-ms";
  if ((size_t)(slash - path) + 1 + sizeof kName > sizeof path) return 0;
  strcpy(slash + 1, kName);
  int cfd = open(path, O_RDONLY | O_CLOEXEC);
  if (cfd < 0) return 0;
  char buf[32];
  ssize_t r = read(cfd, buf, sizeof buf - 1);
  close(cfd);
  if (r <= 0) return 0;
  buf[r] = '\0';
  return strtol(buf, NULL, 10);
}

static void delay_if_configured(int fd) {
  long ms = configured_delay_ms(fd);
  if (ms <= 0) return;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  delay_if_configured(fd);
  return real(fd);
}

int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  delay_if_configured(fd);
  return real(fd);
}
