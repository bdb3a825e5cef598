#!/usr/bin/env python3
"""A second engine for x86wow's oracle: Unicorn (QEMU's x86 core) behind the JSON Lines
engine protocol of docs/oracle.md.

    pip install unicorn
    x86wow lockstep --engine 'python3 testdata/oracle/unicorn_engine.py' testdata/vectors/integer.jsonl.gz

One request per line on stdin, one answer per line on stdout:

    {"op": "hello"}                           -> {"ok": true, "protocol": 1, "engine": "unicorn 2.1.4", "undefined_flags": null}
    {"op": "load", "state": {...}}            -> {"ok": true}
    {"op": "map", "region": {...}}            -> {"ok": true}
    {"op": "read", "addr": A, "len": N}       -> {"ok": true, "hex": "..."}
    {"op": "step", "count": N, "state": true} -> {"ok": true, "exit": {...}, "state": {...}}
    {"op": "get"}                             -> {"ok": true, "state": {...}}
    {"op": "quit"}                            -> {"ok": true}

How the machine is set up in Unicorn (32-bit mode):
- Regions are mapped page by page with their protection and bytes.
- A GDT (two pages at GDT_BASE, outside the state's memory) holds flat ring-0 and ring-3
  descriptors and data descriptors with the FS/GS bases. The engine enters ring 3 with an
  IRETD from a trampoline (so CS/SS selectors are the state's, e.g. 0x23/0x2B, and
  privileged instructions fault as in a user process), then loads DS/ES/FS/GS.
- HLT is the end marker: the engine stops before it without executing it.
- Faults: Unicorn leaves the registers of a faulting instruction unspecified, so the
  engine reports the registers as they were before it (precise exceptions) with the
  memory as Unicorn left it. #PF comes from Unicorn's invalid-memory hook (the address is
  the access's first byte); error codes of other exceptions are not available from
  Unicorn's interrupt hook and are omitted (the oracle then does not compare them).
- A REP string instruction that Unicorn executes one iteration at a time is stepped until
  it leaves its address, and counts once.
"""

import json
import struct
import sys

try:
    import unicorn
    from unicorn import Uc, UcError, UC_ARCH_X86, UC_MODE_32, UC_HOOK_INTR, UC_HOOK_MEM_INVALID
    from unicorn import UC_PROT_READ, UC_PROT_WRITE, UC_PROT_EXEC, UC_PROT_ALL
    from unicorn import UC_MEM_WRITE_UNMAPPED, UC_MEM_WRITE_PROT, UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT
    from unicorn import UC_MEM_READ_PROT, UC_ERR_INSN_INVALID
    from unicorn import x86_const as X
except ImportError as e:  # pragma: no cover
    sys.stderr.write("unicorn_engine.py: the unicorn package is missing (pip install unicorn): %s\n" % e)
    sys.exit(3)

PAGE = 0x1000
GDT_CANDIDATES = [0xC0100000, 0xB0100000, 0xE0100000, 0x00010000]
GPRS = [("eax", X.UC_X86_REG_EAX), ("ecx", X.UC_X86_REG_ECX), ("edx", X.UC_X86_REG_EDX),
        ("ebx", X.UC_X86_REG_EBX), ("esp", X.UC_X86_REG_ESP), ("ebp", X.UC_X86_REG_EBP),
        ("esi", X.UC_X86_REG_ESI), ("edi", X.UC_X86_REG_EDI)]
SEGS = [("es", X.UC_X86_REG_ES), ("cs", X.UC_X86_REG_CS), ("ss", X.UC_X86_REG_SS),
        ("ds", X.UC_X86_REG_DS), ("fs", X.UC_X86_REG_FS), ("gs", X.UC_X86_REG_GS)]
WOW64_SEGS = {"es": 0x2B, "cs": 0x23, "ss": 0x2B, "ds": 0x2B, "fs": 0x53, "gs": 0x2B}
PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3}
STRING_OPS = {0x6C, 0x6D, 0x6E, 0x6F, 0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF}
ST_REGS = [getattr(X, "UC_X86_REG_ST%d" % i) for i in range(8)]
XMM_REGS = [getattr(X, "UC_X86_REG_XMM%d" % i) for i in range(8)]


def desc(base, access):
    """A flat (4 GiB, 32-bit, page-granular) descriptor."""
    limit = 0xFFFFF
    d = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | access << 40 | ((limit >> 16) & 0xF) << 48
    d |= 0xC << 52 | ((base >> 24) & 0xFF) << 56
    return struct.pack("<Q", d)


class Fault(Exception):
    pass


class Engine:
    def __init__(self):
        self.uc = None
        self.regions = []
        self.insns = 0
        self.frozen = None  # registers reported after a fault (as before the instruction)
        self.has_fpu = False

    # ----- loading -----

    def load(self, st):
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self.insns = 0
        self.frozen = None
        self.regions = []
        self.pages = {}
        for r in st.get("memory") or []:
            self._add_region(r)
        regs = st.get("regs") or {}
        segs = dict(WOW64_SEGS)
        segs.update(st.get("segs") or {})
        self.fs_base = st.get("fs_base") or 0
        self.gs_base = st.get("gs_base") or 0
        self.loaded_segs = dict(segs)
        self._enter_ring3(segs, regs)
        for name, reg in GPRS:
            if name != "esp":
                uc.reg_write(reg, regs.get(name, 0))
        self.has_fpu = any(k in st for k in ("x87", "mxcsr", "xmm"))
        self.fx_written = set()
        if self.has_fpu:
            self._load_fpu(st)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        uc.hook_add(UC_HOOK_MEM_INVALID, self._on_mem_invalid)

    def _add_region(self, r):
        addr = r["addr"]
        data = bytes.fromhex(r.get("hex", ""))
        size = max(r.get("size", 0), len(data), 1)
        prot = r.get("prot", "rw")
        uprot = UC_PROT_READ
        if "w" in prot:
            uprot |= UC_PROT_WRITE
        if "x" in prot:
            uprot |= UC_PROT_EXEC
        start = addr & ~(PAGE - 1)
        end = (addr + size + PAGE - 1) & ~(PAGE - 1)
        for pg in range(start, end, PAGE):
            if pg not in self.pages:
                self.uc.mem_map(pg, PAGE, uprot)
                self.pages[pg] = uprot
        if data:
            self.uc.mem_write(addr, data)
        self.regions.append({"addr": addr, "size": size, "prot": prot})

    def _enter_ring3(self, segs, regs):
        """Builds the GDT and enters ring 3 with IRETD (Unicorn starts in ring 0)."""
        uc = self.uc
        gdt = next(g for g in GDT_CANDIDATES if g not in self.pages and g + PAGE not in self.pages)
        uc.mem_map(gdt, 2 * PAGE, UC_PROT_ALL)
        self.gdt = gdt

        def put(sel, base, access):
            uc.mem_write(gdt + (sel & ~7), desc(base, access))

        put(0x08, 0, 0x9A)  # ring-0 code
        put(0x10, 0, 0x92)  # ring-0 data
        for name in ("es", "ss", "ds", "fs", "gs"):
            if segs[name] & ~3:
                put(segs[name], 0, 0xF2)
        if segs["cs"] & ~3:
            put(segs["cs"], 0, 0xFA)
        uc.reg_write(X.UC_X86_REG_GDTR, (0, gdt, 2 * PAGE - 1, 0))
        uc.reg_write(X.UC_X86_REG_CS, 0x08)
        uc.reg_write(X.UC_X86_REG_SS, 0x10)
        tramp = gdt + PAGE
        sp = tramp + 0x800
        eflags = (regs.get("eflags", 2) | 2) & ~(1 << 16)
        uc.mem_write(sp, struct.pack("<5I", regs.get("eip", 0), segs["cs"], eflags, regs.get("esp", 0), segs["ss"]))
        uc.mem_write(tramp, b"\xcf")  # iretd
        uc.reg_write(X.UC_X86_REG_ESP, sp)
        try:
            uc.emu_start(tramp, 0, count=1)
        except UcError:
            # Unicorn may go on to fetch at the (unmapped) target: harmless if the
            # IRETD itself completed.
            if uc.reg_read(X.UC_X86_REG_CS) != segs["cs"] or uc.reg_read(X.UC_X86_REG_EIP) != regs.get("eip", 0):
                raise
        for name in ("ds", "es"):
            uc.reg_write(dict(SEGS)[name], segs[name])
        # FS and GS: load each from a descriptor holding its base; a selector shared with
        # DS/ES/SS gets its flat descriptor back afterwards (the loaded base stays cached).
        flat = {segs["ds"] & ~7, segs["es"] & ~7, segs["ss"] & ~7}
        for name, base in (("fs", self.fs_base), ("gs", self.gs_base)):
            sel = segs[name]
            if sel & ~3:
                put(sel, base, 0xF2)
            uc.reg_write(dict(SEGS)[name], sel)
            if sel & ~7 in flat:
                put(sel, 0, 0xF2)
        uc.mem_unmap(tramp, PAGE)
        uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | (1 << 1) & ~(1 << 2))
        uc.reg_write(X.UC_X86_REG_CR4, uc.reg_read(X.UC_X86_REG_CR4) | (1 << 9) | (1 << 10))

    # The x87/SSE state goes in and out through FXRSTOR/FXSAVE run on a scratch area of
    # the GDT page (Unicorn's register interface gives only the significand of ST(i)).
    FX_CODE = 0x400
    FX_AREA = 0x600

    def _fx(self, modrm):
        # Each instruction at its own address, written once: Unicorn keeps translated
        # code for an address even when the bytes there are rewritten.
        uc = self.uc
        eip = uc.reg_read(X.UC_X86_REG_EIP)
        eflags = uc.reg_read(X.UC_X86_REG_EFLAGS)
        uc.reg_write(X.UC_X86_REG_EFLAGS, eflags & ~((1 << 8) | (1 << 16) | (1 << 18)))  # no TF, RF, AC
        code = self.gdt + self.FX_CODE + (0x20 if modrm == 0x05 else 0)
        if modrm not in self.fx_written:
            uc.mem_write(code, bytes([0x0F, 0xAE, modrm]) + struct.pack("<I", self.gdt + self.FX_AREA))
            self.fx_written.add(modrm)
        uc.emu_start(code, 0, count=1)
        uc.reg_write(X.UC_X86_REG_EIP, eip)
        uc.reg_write(X.UC_X86_REG_EFLAGS, eflags)

    def _load_fpu(self, st):
        x = st.get("x87") or {}
        fcw, fsw, ftw = x.get("fcw", 0x37F), x.get("fsw", 0), x.get("ftw", 0xFFFF)
        img = bytearray(512)
        struct.pack_into("<HH", img, 0, fcw, fsw)
        img[4] = sum(1 << i for i in range(8) if (ftw >> (2 * i)) & 3 != 3)
        struct.pack_into("<I", img, 24, st.get("mxcsr", 0x1F80))
        struct.pack_into("<I", img, 28, 0xFFFF)
        for i, v in enumerate(x.get("st") or []):
            img[32 + 16 * i:42 + 16 * i] = int(v, 16).to_bytes(10, "little")
        for i, v in enumerate(st.get("xmm") or []):
            img[160 + 16 * i:176 + 16 * i] = int(v, 16).to_bytes(16, "little")
        self.uc.mem_write(self.gdt + self.FX_AREA, bytes(img))
        self._fx(0x0D)  # fxrstor [disp32]

    def _read_fpu(self):
        self._fx(0x05)  # fxsave [disp32]
        img = bytes(self.uc.mem_read(self.gdt + self.FX_AREA, 512))
        fcw, fsw = struct.unpack_from("<HH", img, 0)
        abridged = img[4]
        top = (fsw >> 11) & 7
        sts = [int.from_bytes(img[32 + 16 * i:42 + 16 * i], "little") for i in range(8)]
        ftw = 0
        for phys in range(8):
            v = sts[(phys - top) & 7]
            exp, sig = v >> 64, v & ((1 << 64) - 1)
            if not abridged >> phys & 1:
                tag = 3
            elif exp & 0x7FFF == 0 and sig == 0:
                tag = 1
            elif exp & 0x7FFF in (0, 0x7FFF) or not sig >> 63:
                tag = 2
            else:
                tag = 0
            ftw |= tag << (2 * phys)
        return {
            "x87": {"fcw": fcw, "fsw": fsw, "ftw": ftw, "st": ["%020x" % v for v in sts]},
            "mxcsr": struct.unpack_from("<I", img, 24)[0],
            "xmm": ["%032x" % int.from_bytes(img[160 + 16 * i:176 + 16 * i], "little") for i in range(8)],
        }

    # ----- hooks -----

    def _on_intr(self, uc, intno, _data):
        if self.intr is None:
            self.intr = intno
        uc.emu_stop()

    def _on_mem_invalid(self, uc, access, address, size, _value, _data):
        if self.memfault is None:
            write = access in (UC_MEM_WRITE_UNMAPPED, UC_MEM_WRITE_PROT)
            fetch = access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT)
            present = access in (UC_MEM_READ_PROT, UC_MEM_WRITE_PROT, UC_MEM_FETCH_PROT)
            self.memfault = {
                "addr": address & 0xFFFFFFFF,
                "access": "write" if write else "execute" if fetch else "read",
                "error_code": 4 | (1 if present else 0) | (2 if write else 0) | (16 if fetch else 0),
            }
        return False

    # ----- state -----

    def regs(self):
        uc = self.uc
        r = {name: uc.reg_read(reg) & 0xFFFFFFFF for name, reg in GPRS}
        r["eip"] = uc.reg_read(X.UC_X86_REG_EIP) & 0xFFFFFFFF
        r["eflags"] = uc.reg_read(X.UC_X86_REG_EFLAGS) & 0xFFFFFFFF
        return r

    def segs(self):
        return {name: self.uc.reg_read(reg) & 0xFFFF for name, reg in SEGS}

    def seg_base(self, name, segs):
        """The base of FS/GS: as loaded, or from the GDT after the guest reloaded it."""
        sel = segs[name]
        if sel == self.loaded_segs[name]:
            return self.fs_base if name == "fs" else self.gs_base
        if sel & ~3 == 0:
            return 0
        d = struct.unpack("<Q", bytes(self.uc.mem_read(self.gdt + (sel & ~7), 8)))[0]
        return (d >> 16) & 0xFFFFFF | ((d >> 56) & 0xFF) << 24

    def fetch(self, addr, n=15):
        out = b""
        for i in range(n):
            try:
                out += bytes(self.uc.mem_read((addr + i) & 0xFFFFFFFF, 1))
            except UcError:
                break
        return out

    def state(self):
        uc = self.uc
        regs = dict(self.frozen["regs"]) if self.frozen else self.regs()
        segs = dict(self.frozen["segs"]) if self.frozen else self.segs()
        out = {"regs": regs, "segs": segs, "fs_base": self.seg_base("fs", segs), "gs_base": self.seg_base("gs", segs)}
        if self.has_fpu:
            out.update(self._read_fpu())
        mem = []
        for r in self.regions:
            end = ((r["addr"] + r["size"] + PAGE - 1) & ~(PAGE - 1))
            data = bytes(uc.mem_read(r["addr"], end - r["addr"])).rstrip(b"\0")
            mem.append({"addr": r["addr"], "size": r["size"], "prot": r["prot"], "hex": data.hex()})
        out["memory"] = mem
        return out

    # ----- execution -----

    def step(self, count):
        for _ in range(count):
            exit = self.step_one()
            if exit is not None:
                return exit
        return {"reason": "budget", "insns": self.insns}

    def step_one(self):
        if self.frozen:
            return dict(self.frozen["exit"])
        uc = self.uc
        pre_regs, pre_segs = self.regs(), self.segs()
        eip = pre_regs["eip"]
        code = self.fetch(eip)
        p = 0
        while p < len(code) and code[p] in PREFIXES:
            p += 1
        opcode = code[p] if p < len(code) else None
        if opcode == 0xF4:
            return {"reason": "hlt", "insns": self.insns}
        rep_string = opcode in STRING_OPS and any(b in (0xF2, 0xF3) for b in code[:p])
        for _ in range(1 << 20):
            self.intr, self.memfault, err = None, None, None
            try:
                uc.emu_start(uc.reg_read(X.UC_X86_REG_EIP), 0, count=1)
            except UcError as e:
                err = e.errno
            fault = self.classify(err, code, p, pre_regs, pre_segs, eip)
            if fault is not None:
                return fault
            if not (rep_string and self.regs()["eip"] == eip):
                break
        self.insns += 1
        return None

    def freeze(self, exit, regs, segs):
        self.frozen = {"exit": exit, "regs": regs, "segs": segs}
        return dict(exit)

    def classify(self, err, code, p, pre_regs, pre_segs, eip):
        """Turns what Unicorn reported into an exit (None: the instruction ran)."""
        if self.memfault is not None:
            now = self.regs()["eip"]
            if self.memfault["access"] == "execute" and self.memfault["addr"] == now and now != eip:
                # Unicorn went on to fetch the next instruction at an inaccessible
                # branch target: the instruction itself completed. The next step
                # reports the fetch fault.
                return None
            e = {"reason": "fault", "vector": 14, "insns": self.insns}
            e.update(self.memfault)
            return self.freeze(e, pre_regs, pre_segs)
        if self.intr is not None:
            n = self.intr
            opcode = code[p] if p < len(code) else None
            if n == 0x80 and opcode == 0xCD:
                self.insns += 1
                return {"reason": "interrupt", "vector": 128, "insns": self.insns}
            if n == 1 and self.regs()["eip"] != eip:
                # A single-step trap after the instruction ran.
                self.insns += 1
                e = {"reason": "fault", "vector": 1, "insns": self.insns}
                return self.freeze(e, self.regs(), self.segs())
            e = {"reason": "fault", "vector": n, "insns": self.insns}
            if n in (3, 4):
                e["next_eip"] = self.regs()["eip"]
            return self.freeze(e, pre_regs, pre_segs)
        if err == UC_ERR_INSN_INVALID:
            return self.freeze({"reason": "fault", "vector": 6, "insns": self.insns}, pre_regs, pre_segs)
        if err is not None:
            e = {"reason": "fault", "vector": 13, "insns": self.insns, "detail": "unicorn error %d" % err}
            return self.freeze(e, pre_regs, pre_segs)
        return None


def main():
    engine = Engine()
    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        quit = False
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "hello":
                reply = {"ok": True, "protocol": 1, "engine": "unicorn %s" % unicorn.__version__,
                         "undefined_flags": None}
            elif op == "load":
                engine.load(req["state"])
                reply = {"ok": True}
            elif op == "map":
                engine._add_region(req["region"])
                reply = {"ok": True}
            elif op == "read":
                reply = {"ok": True, "hex": bytes(engine.uc.mem_read(req["addr"], req["len"])).hex()}
            elif op == "step":
                reply = {"ok": True, "exit": engine.step(int(req.get("count", 1)))}
                if req.get("state"):
                    reply["state"] = engine.state()
            elif op == "get":
                reply = {"ok": True, "state": engine.state()}
            elif op == "quit":
                reply, quit = {"ok": True}, True
            else:
                reply = {"ok": False, "error": "unknown op %r" % op}
        except Exception as e:  # report, keep serving
            reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        out.write(json.dumps(reply) + "\n")
        out.flush()
        if quit:
            break


if __name__ == "__main__":
    main()
