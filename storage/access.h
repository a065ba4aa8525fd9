// storage/access.h — the per-key access metadata behind approximate LRU and
// LFU eviction: what the 16-bit Entry::access field (storage/value.h) holds
// and how reads and writes update it.
//
// Redis keeps 24 bits per object; kvraft's Entry header has 16 spare bits,
// so both encodings are Redis's with narrower clocks:
//   LRU: a clock of seconds modulo 2^16 (wraps every ~18.2 hours; Redis's
//        24-bit clock wraps every ~194 days). Idle times are exact up to the
//        wrap and modulo it beyond, as Redis's are modulo its own wrap.
//   LFU: high byte = minutes modulo 256 of the last decrement (Redis: 16
//        bits of minutes), low byte = Redis's logarithmic counter (0..255,
//        new keys start at 5). A key idle for 256 minutes or more looks less
//        idle than it is; with lfu-decay-time 1 its counter has already
//        decayed to 0 by then, so the ranking is unaffected in that setting.
// The field is local, never replicated or saved: only the leader reads it.
#pragma once

#include <cstdint>

namespace kvraft::storage {

enum class AccessMode : uint8_t { kLru, kLfu };

// Which encoding Entry::access carries and the LFU tuning (Redis's
// lfu-log-factor and lfu-decay-time).
struct AccessPolicy {
  AccessMode mode = AccessMode::kLru;
  int lfu_log_factor = 10;
  int lfu_decay_time = 1;  // minutes per counter decrement; 0 = never decay
};

// Redis's LFU_INIT_VAL: new keys start here so they are not evicted at once.
inline constexpr uint8_t kLfuInitVal = 5;

// The LRU clock value for `now_ms` (seconds modulo 2^16).
uint16_t lru_clock(int64_t now_ms);
// Milliseconds since the access recorded as LRU clock `access`.
int64_t lru_idle_ms(uint16_t access, int64_t now_ms);

// The LFU counter byte of `access`.
inline uint8_t lfu_counter(uint16_t access) {
  return static_cast<uint8_t>(access & 0xff);
}
// Redis's LFULogIncr: increments `counter` with probability
// 1 / ((counter - kLfuInitVal) * log_factor + 1); `r` is uniform in [0, 1).
uint8_t lfu_log_incr(uint8_t counter, int log_factor, double r);
// Redis's LFUDecrAndReturn: the counter after one decrement per
// `decay_time` minutes elapsed since the recorded decrement time.
uint8_t lfu_decayed_counter(uint16_t access, int64_t now_ms, int decay_time);
// Packs a decrement time and a counter.
uint16_t lfu_pack(int64_t now_ms, uint8_t counter);

// The metadata of a key created at `now_ms`.
uint16_t access_init(const AccessPolicy& policy, int64_t now_ms);
// The metadata after an access at `now_ms` (Redis's updateLFU / LRU_CLOCK);
// `r` is uniform in [0, 1) for the LFU increment.
uint16_t access_touch(uint16_t access, const AccessPolicy& policy, int64_t now_ms, double r);

}  // namespace kvraft::storage
