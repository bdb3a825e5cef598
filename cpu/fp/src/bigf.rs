//! A small 256-bit-significand software float used to evaluate the transcendentals
//! with ample guard bits before the single final rounding. Portable integer code only.

use crate::round::Unpacked;

/// value = (-1)^neg * m * 2^(exp - 255), `m` normalized (bit 255 set) unless zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BF {
    pub neg: bool,
    pub exp: i32,
    pub m: [u64; 4],
}

const Z4: [u64; 4] = [0; 4];

fn lz<const N: usize>(a: &[u64; N]) -> u32 {
    for i in (0..N).rev() {
        if a[i] != 0 {
            return (N - 1 - i) as u32 * 64 + a[i].leading_zeros();
        }
    }
    N as u32 * 64
}

fn shl<const N: usize>(a: &[u64; N], n: u32) -> [u64; N] {
    let mut r = [0u64; N];
    let w = (n / 64) as usize;
    let b = n % 64;
    for i in (0..N).rev() {
        if i < w {
            break;
        }
        let mut v = a[i - w] << b;
        if b != 0 && i > w {
            v |= a[i - w - 1] >> (64 - b);
        }
        r[i] = v;
    }
    r
}

fn shr_jam<const N: usize>(a: &[u64; N], n: u32) -> [u64; N] {
    if n == 0 {
        return *a;
    }
    if n >= 64 * N as u32 {
        let mut r = [0u64; N];
        r[0] = a.iter().any(|&x| x != 0) as u64;
        return r;
    }
    let w = (n / 64) as usize;
    let b = n % 64;
    let mut r = [0u64; N];
    for i in 0..N - w {
        let mut v = a[i + w] >> b;
        if b != 0 && i + w + 1 < N {
            v |= a[i + w + 1] << (64 - b);
        }
        r[i] = v;
    }
    // lost bits
    let mut lost = false;
    for (i, &x) in a.iter().enumerate().take(w.min(N)) {
        let _ = i;
        lost |= x != 0;
    }
    if b != 0 && w < N {
        lost |= a[w] & ((1u64 << b) - 1) != 0;
    }
    r[0] |= lost as u64;
    r
}

fn add_n<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
    let mut r = [0u64; N];
    let mut c = false;
    for i in 0..N {
        let (s1, c1) = a[i].overflowing_add(b[i]);
        let (s2, c2) = s1.overflowing_add(c as u64);
        r[i] = s2;
        c = c1 || c2;
    }
    (r, c)
}

fn sub_n<const N: usize>(a: &[u64; N], b: &[u64; N]) -> ([u64; N], bool) {
    let mut r = [0u64; N];
    let mut br = false;
    for i in 0..N {
        let (s1, b1) = a[i].overflowing_sub(b[i]);
        let (s2, b2) = s1.overflowing_sub(br as u64);
        r[i] = s2;
        br = b1 || b2;
    }
    (r, br)
}

fn cmp_n<const N: usize>(a: &[u64; N], b: &[u64; N]) -> core::cmp::Ordering {
    for i in (0..N).rev() {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
    }
    core::cmp::Ordering::Equal
}

impl BF {
    pub const ZERO: BF = BF { neg: false, exp: 0, m: Z4 };

    pub fn is_zero(&self) -> bool {
        self.m == Z4
    }

    pub(crate) fn norm(neg: bool, exp: i32, m: [u64; 4]) -> BF {
        let l = lz(&m);
        if l == 256 {
            return BF::ZERO;
        }
        BF { neg, exp: exp - l as i32, m: shl(&m, l) }
    }

    pub fn from_u64(v: u64) -> BF {
        BF::norm(false, 255, [v, 0, 0, 0])
    }

    pub fn from_unpacked(u: Unpacked) -> BF {
        BF::norm(u.sign, u.exp, [0, 0, u.sig as u64, (u.sig >> 64) as u64])
    }

    /// 128-bit significand with the lower bits jammed.
    pub fn to_unpacked(self) -> Unpacked {
        let jam = (self.m[0] | self.m[1]) != 0;
        Unpacked {
            sign: self.neg,
            exp: self.exp,
            sig: ((self.m[3] as u128) << 64 | self.m[2] as u128) | jam as u128,
        }
    }

    pub fn from_limbs(exp: i32, m: [u64; 4]) -> BF {
        BF::norm(false, exp, m)
    }

    pub fn neg(self) -> BF {
        BF { neg: !self.neg, ..self }
    }

    pub fn abs(self) -> BF {
        BF { neg: false, ..self }
    }

    pub fn scale(self, k: i32) -> BF {
        if self.is_zero() {
            self
        } else {
            BF { exp: self.exp + k, ..self }
        }
    }

    fn mag_cmp(&self, o: &BF) -> core::cmp::Ordering {
        match (self.is_zero(), o.is_zero()) {
            (true, true) => core::cmp::Ordering::Equal,
            (true, false) => core::cmp::Ordering::Less,
            (false, true) => core::cmp::Ordering::Greater,
            _ => self.exp.cmp(&o.exp).then(cmp_n(&self.m, &o.m)),
        }
    }

    pub fn add(self, o: BF) -> BF {
        if self.is_zero() {
            return o;
        }
        if o.is_zero() {
            return self;
        }
        let (x, y) = if self.mag_cmp(&o) != core::cmp::Ordering::Less { (self, o) } else { (o, self) };
        let d = (x.exp as i64 - y.exp as i64).min(400) as u32;
        let xm = shr_jam(&[0, x.m[0], x.m[1], x.m[2], x.m[3]], 1);
        let ym = shr_jam(&[0, y.m[0], y.m[1], y.m[2], y.m[3]], d + 1);
        let r = if x.neg == y.neg { add_n(&xm, &ym).0 } else { sub_n(&xm, &ym).0 };
        let l = lz(&r);
        if l == 320 {
            return BF::ZERO;
        }
        let r = shl(&r, l);
        let jam = (r[0] != 0) as u64;
        BF { neg: x.neg, exp: x.exp + 1 - l as i32, m: [r[1] | jam, r[2], r[3], r[4]] }
    }

    /// Rounds to `p` significant bits (nearest, ties away from zero): models the
    /// hardware's 68-bit internal format.
    pub fn round_sig(self, p: u32) -> BF {
        if self.is_zero() || p >= 256 {
            return self;
        }
        let drop = 256 - p;
        let hb = drop - 1;
        let half = (self.m[(hb / 64) as usize] >> (hb % 64)) & 1 != 0;
        let mut m = self.m;
        let (w, b) = ((drop / 64) as usize, drop % 64);
        for limb in m.iter_mut().take(w) {
            *limb = 0;
        }
        if b > 0 {
            m[w] &= !((1u64 << b) - 1);
        }
        let r = BF { m, ..self };
        if half {
            r.add(BF::norm(self.neg, self.exp - p as i32 + 1, [0, 0, 0, 1 << 63]))
        } else {
            r
        }
    }

    pub fn sub(self, o: BF) -> BF {
        self.add(o.neg())
    }

    pub fn mul(self, o: BF) -> BF {
        if self.is_zero() || o.is_zero() {
            return BF::ZERO;
        }
        let mut p = [0u64; 8];
        for i in 0..4 {
            let mut carry: u128 = 0;
            for j in 0..4 {
                let t = self.m[i] as u128 * o.m[j] as u128 + p[i + j] as u128 + carry;
                p[i + j] = t as u64;
                carry = t >> 64;
            }
            p[i + 4] = carry as u64;
        }
        let l = lz(&p);
        let p = shl(&p, l);
        let jam = p[..4].iter().any(|&x| x != 0) as u64;
        BF { neg: self.neg ^ o.neg, exp: self.exp + o.exp + 1 - l as i32, m: [p[4] | jam, p[5], p[6], p[7]] }
    }

    pub fn from_i64(v: i64) -> BF {
        let b = BF::from_u64(v.unsigned_abs());
        if v < 0 {
            b.neg()
        } else {
            b
        }
    }

    pub fn div(self, o: BF) -> BF {
        if self.is_zero() || o.is_zero() {
            return BF::ZERO;
        }
        let d = o.m;
        let mut rem = self.m;
        let mut exp = self.exp - o.exp;
        let mut q = [0u64; 4];
        if cmp_n(&rem, &d) != core::cmp::Ordering::Less {
            rem = sub_n(&rem, &d).0;
        } else {
            exp -= 1;
            let carry = rem[3] >> 63;
            rem = shl(&rem, 1);
            let _ = carry;
            rem = sub_n(&rem, &d).0;
        }
        q[0] = 1;
        for _ in 0..255 {
            let carry = rem[3] >> 63 != 0;
            rem = shl(&rem, 1);
            q = shl(&q, 1);
            if carry || cmp_n(&rem, &d) != core::cmp::Ordering::Less {
                rem = sub_n(&rem, &d).0;
                q[0] |= 1;
            }
        }
        q[0] |= (rem != Z4) as u64;
        BF { neg: self.neg ^ o.neg, exp, m: q }
    }

    /// Division by a small positive integer.
    pub fn div_small(self, k: u64) -> BF {
        if self.is_zero() {
            return self;
        }
        let mut q = [0u64; 5];
        let src = [0u64, self.m[0], self.m[1], self.m[2], self.m[3]];
        let mut rem: u128 = 0;
        for i in (0..5).rev() {
            let cur = (rem << 64) | src[i] as u128;
            q[i] = (cur / k as u128) as u64;
            rem = cur % k as u128;
        }
        q[0] |= (rem != 0) as u64;
        let l = lz(&q);
        let q = shl(&q, l);
        BF { neg: self.neg, exp: self.exp - l as i32, m: [q[1] | (q[0] != 0) as u64, q[2], q[3], q[4]] }
    }

    /// Approximate value as f64 (for initial guesses only).
    pub fn approx_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let top = self.m[3] as f64 / (1u64 << 63) as f64; // [1, 2)
        let v = top * pow2(self.exp);
        if self.neg {
            -v
        } else {
            v
        }
    }

    pub fn sqrt(self) -> BF {
        if self.is_zero() {
            return self;
        }
        // Newton iteration from a 50-bit start (exponent handled separately).
        let e = self.exp;
        let half = e.div_euclid(2);
        let rest = BF { exp: e - 2 * half, ..self }; // in [1, 4)
        let mut y = BF::from_f64_exact(rest.approx_f64().sqrt());
        for _ in 0..4 {
            y = y.add(rest.div(y)).scale(-1);
        }
        y.scale(half)
    }

    /// Exact conversion of a finite positive f64.
    pub fn from_f64_exact(v: f64) -> BF {
        let bits = v.to_bits();
        let e = ((bits >> 52) & 0x7FF) as i32;
        let f = bits & ((1 << 52) - 1);
        if e == 0 {
            return BF::ZERO;
        }
        BF::norm(v < 0.0, e - 1023 - 52 + 255, [f | (1 << 52), 0, 0, 0])
    }

    /// Nearest integer (ties away) of |self| < 2^63, with sign.
    pub fn round_to_i64(&self) -> i64 {
        if self.is_zero() || self.exp < -1 {
            return 0;
        }
        if self.exp > 62 {
            return if self.neg { i64::MIN } else { i64::MAX };
        }
        let sh = 255 - self.exp;
        let mut v = [0u64; 4];
        let n = (sh - 1) as u32;
        let (w, b) = ((n / 64) as usize, n % 64);
        for (i, limb) in v.iter_mut().enumerate() {
            let lo = if i + w < 4 { self.m[i + w] >> b } else { 0 };
            let hi = if b != 0 && i + w + 1 < 4 { self.m[i + w + 1] << (64 - b) } else { 0 };
            *limb = lo | hi;
        }
        let r = ((v[0] >> 1) | (v[1] << 63)) as i64 + (v[0] & 1) as i64;
        if self.neg {
            -r
        } else {
            r
        }
    }
}

fn pow2(e: i32) -> f64 {
    let e = e.clamp(-1000, 1000);
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// pi to 256 bits.
#[cfg(test)]
pub(crate) fn pi() -> BF {
    BF::from_limbs(1, [0x020bbea63b139b22, 0x29024e088a67cc74, 0xc4c6628b80dc1cd1, 0xc90fdaa22168c234])
}

/// ln 2 to 256 bits.
pub(crate) fn ln2() -> BF {
    BF::from_limbs(-1, [0x8a0d175b8baafa2b, 0x40f343267298b62d, 0xc9e3b39803f2f6af, 0xb17217f7d1cf79ab])
}

/// log2(e) to 256 bits.
pub(crate) fn log2e() -> BF {
    BF::from_limbs(0, [0x8b25166cd1a13247, 0xeb577aa8dd695a58, 0xbe87fed0691d3e88, 0xb8aa3b295c17f0bb])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: BF, b: BF) -> bool {
        let d = a.sub(b);
        d.is_zero() || d.exp < a.exp - 250
    }

    #[test]
    fn arithmetic_identities() {
        let three = BF::from_u64(3);
        let x = BF::from_u64(1).div(three);
        assert!(close(x.mul(three), BF::from_u64(1)));
        let s = BF::from_u64(2).sqrt();
        assert!(close(s.mul(s), BF::from_u64(2)));
        assert!(close(pi().div_small(7).mul(BF::from_i64(-7)), pi().neg()));
        assert_eq!(BF::from_u64(10).sub(BF::from_u64(10)), BF::ZERO);
        assert_eq!(BF::from_u64(5).div_small(2).round_to_i64(), 3);
        assert!(close(BF::from_u64(1).div_small(3), BF::from_u64(1).div(BF::from_u64(3))));
        assert_eq!(BF::from_u64(7).neg().round_to_i64(), -7);
    }
}
