//! The deterministic clock, KUSER_SHARED_DATA and the time services.

use x86wow_mmu::Memory;

use crate::status::{flat, NtResult, NtStatus};
use crate::user;
use crate::vm::{MemType, MEM_COMMIT, MEM_RESERVE, PAGE_READONLY};
use crate::Kernel;

/// Where KUSER_SHARED_DATA is mapped in every process.
pub const KUSER_SHARED_DATA: u64 = 0x7FFE_0000;
/// The performance counter frequency (the counter runs in 100 ns units).
pub const QPC_FREQUENCY: u64 = 10_000_000;
/// The clock interrupt period (15.625 ms) in 100 ns units.
pub const TIME_INCREMENT: u64 = 156_250;
/// `KUSER_SHARED_DATA.TickCountMultiplier`: 15.625 ms as a 8.24 fixed-point count.
pub const TICK_COUNT_MULTIPLIER: u32 = 0x0FA0_0000;

/// The deterministic clock: system time and interrupt time advance together, only when
/// the embedder (the CPU, by instructions retired) or a wait/delay advances them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// 100 ns units since start.
    pub elapsed: u64,
    /// Carried remainder of `units * num / den`.
    remainder: u64,
    pub start: u64,
    pub boot_interrupt_time: u64,
    pub num: u64,
    pub den: u64,
}

impl Clock {
    pub fn new(start: u64, boot_interrupt_time: u64, rate: (u64, u64)) -> Self {
        Clock { elapsed: 0, remainder: 0, start, boot_interrupt_time, num: rate.0, den: rate.1.max(1) }
    }

    /// Advances by `units` of CPU time.
    pub fn advance_units(&mut self, units: u64) {
        let total = units as u128 * self.num as u128 + self.remainder as u128;
        let add = total / self.den as u128;
        self.remainder = (total % self.den as u128) as u64;
        self.advance_100ns(u64::try_from(add).unwrap_or(u64::MAX));
    }

    /// Advances by a number of 100 ns units.
    pub fn advance_100ns(&mut self, t: u64) {
        self.elapsed = self.elapsed.saturating_add(t);
    }

    /// Current system time (FILETIME).
    pub fn system_time(&self) -> u64 {
        self.start.saturating_add(self.elapsed)
    }

    /// Time since boot in 100 ns units.
    pub fn interrupt_time(&self) -> u64 {
        self.boot_interrupt_time.saturating_add(self.elapsed)
    }

    /// System time at boot.
    pub fn boot_time(&self) -> u64 {
        self.start.saturating_sub(self.boot_interrupt_time)
    }
}

/// What a timeout argument means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    Infinite,
    /// 100 ns units from now (0 = poll).
    After(u64),
}

impl Kernel {
    /// Advances the clock by `units` of CPU time (see [`crate::KernelConfig::clock_rate`])
    /// and refreshes KUSER_SHARED_DATA in `mem` if it is mapped.
    pub fn advance_clock(&mut self, mem: &mut Memory, units: u64) {
        self.clock.advance_units(units);
        self.update_shared_data(mem);
    }

    /// Advances the clock by 100 ns units and refreshes KUSER_SHARED_DATA.
    pub fn advance_time(&mut self, mem: &mut Memory, t: u64) {
        self.clock.advance_100ns(t);
        self.update_shared_data(mem);
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Maps KUSER_SHARED_DATA (one read-only committed page at 0x7FFE0000, a private
    /// allocation as Windows reports it) and fills it. Called by [`Kernel::init_process`].
    pub fn map_shared_data(&mut self, mem: &mut Memory) -> NtStatus {
        let st = self.vm_reserve_at(
            mem,
            KUSER_SHARED_DATA,
            0x1000,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READONLY,
            MemType::Private,
        );
        if st.is_success() {
            if let Some(a) = self.vm.allocs.get_mut(&KUSER_SHARED_DATA) {
                a.system = true;
            }
            self.fill_shared_data(mem);
        }
        st
    }

    fn fill_shared_data(&mut self, mem: &mut Memory) {
        let k = KUSER_SHARED_DATA;
        let id = self.cfg.identity;
        let mut b = user::Buf::new(0x1000);
        b.u32(0x004, TICK_COUNT_MULTIPLIER);
        b.u16(0x02C, 0x8664).u16(0x02E, 0x8664);
        b.utf16(0x030, &user::str_to_utf16("C:\\Windows"));
        b.u32(0x238, 16); // MaxStackTraceDepth
        b.u32(0x23C, 0x10001); // CryptoExponent
        b.u32(0x240, 0); // TimeZoneId: unknown
        b.u32(0x244, 0x20_0000); // LargePageMinimum
        b.u32(0x260, id.build);
        b.u32(0x264, id.product_type);
        b.u8(0x268, 1);
        b.u16(0x26A, 9); // PROCESSOR_ARCHITECTURE_AMD64
        b.u32(0x26C, id.major);
        b.u32(0x270, id.minor);
        b.put(0x274, &self.cfg.processor_features);
        b.u32(0x2D0, 0x110); // SuiteMask: SingleUserTS | TerminalServer
        b.u32(0x2D8, 1); // ActiveConsoleId
        b.u32(0x2E8, self.cfg.physical_pages);
        b.u64(0x300, QPC_FREQUENCY);
        b.u32(0x330, (self.cfg.seed as u32) ^ 0x9E37_79B9); // Cookie
        b.u32(0x3C0, self.cfg.number_of_processors);
        b.u8(0x3C4, 1);
        // QpcData = 0: QueryPerformanceCounter goes through NtQueryPerformanceCounter.
        let _ = mem.poke(k, &b.0);
        self.update_shared_data(mem);
    }

    /// Writes the time fields of KUSER_SHARED_DATA from the clock (ignoring the page's
    /// protection). Does nothing if the page is not mapped.
    pub fn update_shared_data(&self, mem: &mut Memory) {
        let k = KUSER_SHARED_DATA;
        if !mem.is_mapped(k) {
            return;
        }
        let ksystem = |v: u64| {
            let mut b = [0u8; 12];
            b[..4].copy_from_slice(&(v as u32).to_le_bytes());
            b[4..8].copy_from_slice(&((v >> 32) as u32).to_le_bytes());
            b[8..].copy_from_slice(&((v >> 32) as u32).to_le_bytes());
            b
        };
        let it = self.clock.interrupt_time();
        let ticks = it / TIME_INCREMENT;
        let _ = mem.poke(k, &(ticks as u32).to_le_bytes());
        let _ = mem.poke(k + 0x008, &ksystem(it));
        let _ = mem.poke(k + 0x014, &ksystem(self.clock.system_time()));
        let _ = mem.poke(k + 0x020, &ksystem(self.cfg.time_zone_bias as u64));
        let _ = mem.poke(k + 0x320, &ksystem(ticks));
    }

    /// Reads an optional timeout (`PLARGE_INTEGER`): NULL is infinite, negative values are
    /// relative, positive ones absolute system times (already past = poll).
    pub(crate) fn read_timeout(&self, mem: &mut Memory, ptr: u64) -> NtResult<Timeout> {
        if ptr == 0 {
            return Ok(Timeout::Infinite);
        }
        let v = user::read_i64(mem, ptr)?;
        Ok(self.timeout_from(v))
    }

    pub(crate) fn timeout_from(&self, v: i64) -> Timeout {
        if v < 0 {
            if v == i64::MIN {
                // Sleep(INFINITE) passes the most negative value.
                Timeout::Infinite
            } else {
                Timeout::After(v.unsigned_abs())
            }
        } else {
            Timeout::After((v as u64).saturating_sub(self.clock.system_time()))
        }
    }

    /// NtQuerySystemTime(PLARGE_INTEGER SystemTime).
    pub fn nt_query_system_time(&mut self, mem: &mut Memory, time_ptr: u64) -> NtStatus {
        flat((|| {
            user::write_u64(mem, time_ptr, self.clock.system_time())?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQueryPerformanceCounter(PLARGE_INTEGER Counter, PLARGE_INTEGER Frequency opt).
    /// The counter is the interrupt time (10 MHz).
    pub fn nt_query_performance_counter(
        &mut self,
        mem: &mut Memory,
        counter: u64,
        frequency: u64,
    ) -> NtStatus {
        flat((|| {
            user::probe_write(mem, counter, 8)?;
            if frequency != 0 {
                user::probe_write(mem, frequency, 8)?;
            }
            user::write_u64(mem, counter, self.clock.interrupt_time())?;
            if frequency != 0 {
                user::write_u64(mem, frequency, QPC_FREQUENCY)?;
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQueryTimerResolution(PULONG Maximum, PULONG Minimum, PULONG Current):
    /// 15.625 ms coarsest, 0.5 ms finest, current as last set (default 15.625 ms).
    pub fn nt_query_timer_resolution(
        &mut self,
        mem: &mut Memory,
        maximum: u64,
        minimum: u64,
        current: u64,
    ) -> NtStatus {
        flat((|| {
            for p in [maximum, minimum, current] {
                user::probe_write(mem, p, 4)?;
            }
            user::write_u32(mem, maximum, TIME_INCREMENT as u32)?;
            user::write_u32(mem, minimum, 5000)?;
            user::write_u32(mem, current, self.timer_resolution)?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtSetTimerResolution(ULONG Desired, BOOLEAN Set, PULONG Current): records the
    /// resolution (clamped to 0.5..15.625 ms); it has no other effect on the clock.
    pub fn nt_set_timer_resolution(
        &mut self,
        mem: &mut Memory,
        desired: u64,
        set: u64,
        current: u64,
    ) -> NtStatus {
        flat((|| {
            user::probe_write(mem, current, 4)?;
            if set as u8 != 0 {
                self.timer_resolution = (desired as u32).clamp(5000, TIME_INCREMENT as u32);
            } else {
                self.timer_resolution = TIME_INCREMENT as u32;
            }
            user::write_u32(mem, current, self.timer_resolution)?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtDelayExecution(BOOLEAN Alertable, PLARGE_INTEGER DelayInterval): advances the
    /// clock by the delay. An infinite delay (`Sleep(INFINITE)`) can never end in a
    /// single-threaded process and returns `STATUS_POSSIBLE_DEADLOCK` instead of hanging.
    pub fn nt_delay_execution(&mut self, mem: &mut Memory, _alertable: u64, interval: u64) -> NtStatus {
        flat((|| {
            let v = user::read_i64(mem, interval)?;
            match self.timeout_from(v) {
                Timeout::Infinite => Err(NtStatus::POSSIBLE_DEADLOCK),
                Timeout::After(t) => {
                    self.advance_time(mem, t);
                    Ok(NtStatus::SUCCESS)
                }
            }
        })())
    }

    /// NtYieldExecution(): no other thread is ready, so `STATUS_NO_YIELD_PERFORMED`.
    pub fn nt_yield_execution(&mut self, _mem: &mut Memory) -> NtStatus {
        NtStatus::NO_YIELD_PERFORMED
    }
}
