// storage/access.cc — see access.h.
#include "storage/access.h"

namespace kvraft::storage {

namespace {
uint8_t minutes_byte(int64_t now_ms) {
  return static_cast<uint8_t>((now_ms / 60000) & 0xff);
}
}  // namespace

uint16_t lru_clock(int64_t now_ms) {
  return static_cast<uint16_t>((now_ms / 1000) & 0xffff);
}

int64_t lru_idle_ms(uint16_t access, int64_t now_ms) {
  // Modular difference: correct across one wrap of the 16-bit clock.
  uint16_t elapsed = static_cast<uint16_t>(lru_clock(now_ms) - access);
  return int64_t{elapsed} * 1000;
}

uint8_t lfu_log_incr(uint8_t counter, int log_factor, double r) {
  if (counter == 255) return 255;
  double baseval = counter > kLfuInitVal ? counter - kLfuInitVal : 0;
  double p = 1.0 / (baseval * log_factor + 1);
  return r < p ? static_cast<uint8_t>(counter + 1) : counter;
}

uint8_t lfu_decayed_counter(uint16_t access, int64_t now_ms, int decay_time) {
  uint8_t counter = lfu_counter(access);
  if (decay_time <= 0) return counter;
  uint8_t elapsed = static_cast<uint8_t>(minutes_byte(now_ms) - (access >> 8));
  int64_t periods = elapsed / decay_time;
  return periods >= counter ? 0 : static_cast<uint8_t>(counter - periods);
}

uint16_t lfu_pack(int64_t now_ms, uint8_t counter) {
  return static_cast<uint16_t>((uint16_t{minutes_byte(now_ms)} << 8) | counter);
}

uint16_t access_init(const AccessPolicy& policy, int64_t now_ms) {
  return policy.mode == AccessMode::kLfu ? lfu_pack(now_ms, kLfuInitVal) : lru_clock(now_ms);
}

uint16_t access_touch(uint16_t access, const AccessPolicy& policy, int64_t now_ms, double r) {
  if (policy.mode != AccessMode::kLfu) return lru_clock(now_ms);
  uint8_t counter = lfu_decayed_counter(access, now_ms, policy.lfu_decay_time);
  return lfu_pack(now_ms, lfu_log_incr(counter, policy.lfu_log_factor, r));
}

}  // namespace kvraft::storage
