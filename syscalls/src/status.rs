//! NTSTATUS values and their names.

use std::fmt;

/// An NTSTATUS value as the kernel returns it (the raw 32-bit code).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NtStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $value:expr;)*) => {
        impl NtStatus {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub const $name: NtStatus = NtStatus($value);
            )*
        }

        /// The `STATUS_*` name of every status this crate can return, for traces.
        pub fn status_name(code: u32) -> Option<&'static str> {
            match code {
                $($value => Some(concat!("STATUS_", stringify!($name))),)*
                _ => None,
            }
        }

        /// Every status this crate knows, as (value, name).
        pub fn all_statuses() -> &'static [(u32, &'static str)] {
            &[$(($value, concat!("STATUS_", stringify!($name))),)*]
        }
    };
}

statuses! {
    SUCCESS = 0x0000_0000;
    WAIT_1 = 0x0000_0001;
    WAIT_2 = 0x0000_0002;
    WAIT_3 = 0x0000_0003;
    ABANDONED_WAIT_0 = 0x0000_0080;
    USER_APC = 0x0000_00C0;
    ALERTED = 0x0000_0101;
    TIMEOUT = 0x0000_0102;
    PENDING = 0x0000_0103;
    OBJECT_NAME_EXISTS = 0x4000_0000;
    IMAGE_NOT_AT_BASE = 0x4000_0003;
    IMAGE_MACHINE_TYPE_MISMATCH = 0x4000_000E;
    NO_YIELD_PERFORMED = 0x4000_0024;
    GUARD_PAGE_VIOLATION = 0x8000_0001;
    DATATYPE_MISALIGNMENT = 0x8000_0002;
    BUFFER_OVERFLOW = 0x8000_0005;
    NO_MORE_FILES = 0x8000_0006;
    NO_MORE_ENTRIES = 0x8000_001A;
    UNSUCCESSFUL = 0xC000_0001;
    NOT_IMPLEMENTED = 0xC000_0002;
    INVALID_INFO_CLASS = 0xC000_0003;
    INFO_LENGTH_MISMATCH = 0xC000_0004;
    ACCESS_VIOLATION = 0xC000_0005;
    INVALID_HANDLE = 0xC000_0008;
    INVALID_CID = 0xC000_000B;
    INVALID_PARAMETER = 0xC000_000D;
    NO_SUCH_FILE = 0xC000_000F;
    INVALID_DEVICE_REQUEST = 0xC000_0010;
    END_OF_FILE = 0xC000_0011;
    NO_MEMORY = 0xC000_0017;
    CONFLICTING_ADDRESSES = 0xC000_0018;
    NOT_MAPPED_VIEW = 0xC000_0019;
    UNABLE_TO_FREE_VM = 0xC000_001A;
    UNABLE_TO_DELETE_SECTION = 0xC000_001B;
    INVALID_SYSTEM_SERVICE = 0xC000_001C;
    INVALID_VIEW_SIZE = 0xC000_001F;
    INVALID_FILE_FOR_SECTION = 0xC000_0020;
    ACCESS_DENIED = 0xC000_0022;
    BUFFER_TOO_SMALL = 0xC000_0023;
    OBJECT_TYPE_MISMATCH = 0xC000_0024;
    NOT_COMMITTED = 0xC000_002D;
    INVALID_PARAMETER_MIX = 0xC000_0030;
    OBJECT_NAME_INVALID = 0xC000_0033;
    OBJECT_NAME_NOT_FOUND = 0xC000_0034;
    OBJECT_NAME_COLLISION = 0xC000_0035;
    OBJECT_PATH_INVALID = 0xC000_0039;
    OBJECT_PATH_NOT_FOUND = 0xC000_003A;
    OBJECT_PATH_SYNTAX_BAD = 0xC000_003B;
    SECTION_TOO_BIG = 0xC000_0040;
    SHARING_VIOLATION = 0xC000_0043;
    INVALID_PAGE_PROTECTION = 0xC000_0045;
    MUTANT_NOT_OWNED = 0xC000_0046;
    SEMAPHORE_LIMIT_EXCEEDED = 0xC000_0047;
    SECTION_NOT_IMAGE = 0xC000_0049;
    SECTION_PROTECTION = 0xC000_004E;
    DELETE_PENDING = 0xC000_0056;
    PRIVILEGE_NOT_HELD = 0xC000_0061;
    MEMORY_NOT_ALLOCATED = 0xC000_00A0;
    FILE_INVALID = 0xC000_0098;
    FREE_VM_NOT_AT_BASE = 0xC000_009F;
    INVALID_IMAGE_FORMAT = 0xC000_007B;
    FILE_IS_A_DIRECTORY = 0xC000_00BA;
    NOT_SUPPORTED = 0xC000_00BB;
    INVALID_PARAMETER_1 = 0xC000_00EF;
    INVALID_PARAMETER_2 = 0xC000_00F0;
    INVALID_PARAMETER_3 = 0xC000_00F1;
    INVALID_PARAMETER_4 = 0xC000_00F2;
    INVALID_PARAMETER_5 = 0xC000_00F3;
    INVALID_PARAMETER_6 = 0xC000_00F4;
    INVALID_PARAMETER_7 = 0xC000_00F5;
    INVALID_PARAMETER_8 = 0xC000_00F6;
    INVALID_PARAMETER_9 = 0xC000_00F7;
    INVALID_PARAMETER_10 = 0xC000_00F8;
    DIRECTORY_NOT_EMPTY = 0xC000_0101;
    NOT_A_DIRECTORY = 0xC000_0103;
    CANNOT_DELETE = 0xC000_0121;
    FILE_DELETED = 0xC000_0123;
    FILE_CLOSED = 0xC000_0128;
    INVALID_IMAGE_NE_FORMAT = 0xC000_011B;
    MAPPED_FILE_SIZE_ZERO = 0xC000_011E;
    COMMITMENT_LIMIT = 0xC000_012D;
    INVALID_IMAGE_LE_FORMAT = 0xC000_012E;
    INVALID_IMAGE_NOT_MZ = 0xC000_012F;
    INVALID_IMAGE_PROTECT = 0xC000_0130;
    INVALID_IMAGE_WIN_16 = 0xC000_0131;
    INVALID_ADDRESS = 0xC000_0141;
    MUTANT_LIMIT_EXCEEDED = 0xC000_0191;
    POSSIBLE_DEADLOCK = 0xC000_0194;
    MAPPED_ALIGNMENT = 0xC000_0220;
    HANDLE_NOT_CLOSABLE = 0xC000_0235;
    PORT_NOT_SET = 0xC000_0353;
}

impl NtStatus {
    /// `STATUS_WAIT_0`, the same value as [`NtStatus::SUCCESS`].
    pub const WAIT_0: NtStatus = NtStatus(0);

    /// `NT_SUCCESS`: success and informational codes (severity 0 or 1).
    pub fn is_success(self) -> bool {
        (self.0 as i32) >= 0
    }

    /// `NT_ERROR`: severity 3.
    pub fn is_error(self) -> bool {
        self.0 >> 30 == 3
    }

    /// The status name, if this crate knows it.
    pub fn name(self) -> Option<&'static str> {
        status_name(self.0)
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({:#010x})", self.0),
            None => write!(f, "NtStatus({:#010x})", self.0),
        }
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<NtStatus> for u32 {
    fn from(s: NtStatus) -> u32 {
        s.0
    }
}

/// Internal result type: `Err` carries the status to return as is.
pub(crate) type NtResult<T> = Result<T, NtStatus>;

/// Collapses an `NtResult<NtStatus>` into the status to return.
pub(crate) fn flat(r: NtResult<NtStatus>) -> NtStatus {
    r.unwrap_or_else(|e| e)
}
