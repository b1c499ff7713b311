using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Switchyard.Management.Cluster;

/// <summary>What a datagram carries.</summary>
public enum SyncMessageType : byte
{
    /// <summary>Token entries (live updates and re-announcements; may be empty: a keepalive).</summary>
    Tokens = 1,
    /// <summary>"I (re)started: send me your table" (no entries).</summary>
    Hello = 2,
    /// <summary>Flow pins that the current Maglev table no longer reproduces (issue 12 item 4): <see cref="PinEntry"/>s.</summary>
    Pins = 3,
}

/// <summary>The state of a token an entry reports.</summary>
public enum SyncOp : byte
{
    /// <summary>token -> pool/backend, last seen AgeMicroseconds ago.</summary>
    Live = 1,
    /// <summary>Learned for two backends: joins for it are unplaceable until it expires.</summary>
    Collided = 2,
    /// <summary>The connection that taught it ended: forget it if it maps to that backend.</summary>
    Forgotten = 3,
    /// <summary>A flow pin (only in <see cref="SyncMessageType.Pins"/> datagrams).</summary>
    Pin = 4,
}

/// <summary>A flow pin shared with the peers (issue 12 item 4): the 64-bit flow hash (the same on every appliance of
/// the cluster), "pool/backend" (ids differ between appliances, names do not) and the pin's remaining idle time.</summary>
public readonly record struct PinEntry(ulong FlowHash, string Backend, uint RemainingMilliseconds);

/// <summary>One entry. <see cref="Fresh"/>: a live event from a worker (not a re-announcement); its age is the
/// time since the worker saw it, so the receiver can measure the propagation delay.</summary>
public readonly record struct SyncEntry(SyncOp Op, bool Fresh, uint Token, string? Backend, ulong AgeMicroseconds);

/// <summary>A verified, parsed datagram.</summary>
public sealed record SyncMessage(SyncMessageType Type, ulong Epoch, ulong Sequence, long TimestampMicroseconds, IReadOnlyList<SyncEntry> Entries)
{
    /// <summary>The pins of a <see cref="SyncMessageType.Pins"/> datagram (empty otherwise).</summary>
    public IReadOnlyList<PinEntry> Pins { get; init; } = [];
}

/// <summary>
/// The token exchange's datagram (issue 12, item 2), big-endian:
/// <code>
///   0  4  magic "SYTK"          4  1  version 1              5  1  type (1 tokens, 2 hello, 3 pins)
///   6  2  entry count           8  8  sender epoch (random per process start)
///  16  8  sequence (1, 2, ... within the epoch)             24  8  send time, Unix microseconds
///  32  1  name count, then each name: length (1..255) + UTF-8 ("pool/backend")
///      entries, 14 bytes each: op (1; bit 7 = fresh) | name index (1; 255 = none) | token (4) | age in microseconds (8)
///      or, in a pins datagram: op 4 | name index (1) | flow hash (8) | remaining idle time in milliseconds (4, &gt; 0)
/// end-32  HMAC-SHA256 (shared key) over everything before it
/// </code>
/// A receiver checks the MAC first (constant-time), then the structure, then the replay window (<see cref="ReplayWindow"/>).
/// </summary>
public static class TokenSyncCodec
{
    public const int HeaderBytes = 33;
    public const int EntryBytes = 14;
    public const int MacBytes = 32;
    public const byte Version = 1;
    public const byte NoName = 255;
    const byte FreshBit = 0x80;
    static ReadOnlySpan<byte> Magic => "SYTK"u8;

    /// <summary>Why a datagram was refused before its entries were looked at.</summary>
    public enum Refusal { None, Malformed, BadMac }

    /// <summary>Verifies and parses; on refusal <paramref name="reason"/> says why (for the log and the tests).</summary>
    public static Refusal TryParse(ReadOnlySpan<byte> d, byte[] key, out SyncMessage? message, out string reason)
    {
        message = null;
        if (d.Length < HeaderBytes + MacBytes) { reason = $"{d.Length} bytes: shorter than a header and a MAC"; return Refusal.Malformed; }
        if (!d[..4].SequenceEqual(Magic)) { reason = "bad magic"; return Refusal.Malformed; }
        Span<byte> mac = stackalloc byte[MacBytes];
        HMACSHA256.HashData(key, d[..^MacBytes], mac);
        if (!CryptographicOperations.FixedTimeEquals(mac, d[^MacBytes..])) { reason = "HMAC does not match (wrong key or altered)"; return Refusal.BadMac; }
        if (d[4] != Version) { reason = $"version {d[4]} (this appliance speaks {Version})"; return Refusal.Malformed; }
        var type = (SyncMessageType)d[5];
        if (type is not (SyncMessageType.Tokens or SyncMessageType.Hello or SyncMessageType.Pins)) { reason = $"unknown type {d[5]}"; return Refusal.Malformed; }
        int count = BinaryPrimitives.ReadUInt16BigEndian(d[6..]);
        ulong epoch = BinaryPrimitives.ReadUInt64BigEndian(d[8..]);
        ulong seq = BinaryPrimitives.ReadUInt64BigEndian(d[16..]);
        long ts = BinaryPrimitives.ReadInt64BigEndian(d[24..]);
        int nameCount = d[32];
        var body = d[HeaderBytes..^MacBytes];
        var names = new string[nameCount];
        int at = 0;
        for (int i = 0; i < nameCount; i++)
        {
            if (at >= body.Length) { reason = "name table runs past the end"; return Refusal.Malformed; }
            int len = body[at++];
            if (len == 0 || at + len > body.Length) { reason = $"name {i}: bad length {len}"; return Refusal.Malformed; }
            try { names[i] = new UTF8Encoding(false, true).GetString(body.Slice(at, len)); }
            catch (DecoderFallbackException) { reason = $"name {i}: not UTF-8"; return Refusal.Malformed; }
            at += len;
        }
        if (body.Length - at != count * EntryBytes) { reason = $"{count} entries need {count * EntryBytes} bytes, {body.Length - at} left"; return Refusal.Malformed; }
        if (type == SyncMessageType.Hello && (count != 0 || nameCount != 0)) { reason = "hello with entries"; return Refusal.Malformed; }
        if (type == SyncMessageType.Pins) return ParsePins(body[at..], count, names, type, epoch, seq, ts, out message, out reason);
        var entries = new SyncEntry[count];
        for (int i = 0; i < count; i++, at += EntryBytes)
        {
            var e = body.Slice(at, EntryBytes);
            var op = (SyncOp)(e[0] & ~FreshBit);
            if (op is not (SyncOp.Live or SyncOp.Collided or SyncOp.Forgotten)) { reason = $"entry {i}: unknown op {e[0]}"; return Refusal.Malformed; }
            string? name = null;
            if (e[1] != NoName)
            {
                if (e[1] >= nameCount) { reason = $"entry {i}: name index {e[1]} of {nameCount}"; return Refusal.Malformed; }
                name = names[e[1]];
            }
            if (name is null && op != SyncOp.Collided) { reason = $"entry {i}: {op} without a backend"; return Refusal.Malformed; }
            entries[i] = new SyncEntry(op, (e[0] & FreshBit) != 0, BinaryPrimitives.ReadUInt32BigEndian(e[2..]), name, BinaryPrimitives.ReadUInt64BigEndian(e[6..]));
        }
        message = new SyncMessage(type, epoch, seq, ts, entries);
        reason = "";
        return Refusal.None;
    }

    static Refusal ParsePins(ReadOnlySpan<byte> body, int count, string[] names, SyncMessageType type, ulong epoch, ulong seq, long ts,
        out SyncMessage? message, out string reason)
    {
        message = null;
        var pins = new PinEntry[count];
        for (int i = 0, at = 0; i < count; i++, at += EntryBytes)
        {
            var e = body.Slice(at, EntryBytes);
            if (e[0] != (byte)SyncOp.Pin) { reason = $"pin {i}: op {e[0]} (expected {(byte)SyncOp.Pin})"; return Refusal.Malformed; }
            if (e[1] >= names.Length) { reason = $"pin {i}: name index {e[1]} of {names.Length}"; return Refusal.Malformed; }
            uint remaining = BinaryPrimitives.ReadUInt32BigEndian(e[10..]);
            if (remaining == 0) { reason = $"pin {i}: no idle time left"; return Refusal.Malformed; }
            pins[i] = new PinEntry(BinaryPrimitives.ReadUInt64BigEndian(e[2..]), names[e[1]], remaining);
        }
        message = new SyncMessage(type, epoch, seq, ts, []) { Pins = pins };
        reason = "";
        return Refusal.None;
    }

    /// <summary>Builds one datagram; <see cref="TryAdd"/> refuses an entry that would not fit <c>maxBytes</c>.</summary>
    public sealed class Writer
    {
        readonly int _maxBytes;
        readonly List<SyncEntry> _entries = new();
        readonly List<PinEntry> _pins = new();
        readonly List<byte[]> _names = new();
        readonly Dictionary<string, int> _nameIndex = new(StringComparer.Ordinal);
        int _size = HeaderBytes + MacBytes;

        public Writer(int maxBytes) { _maxBytes = maxBytes; }
        public int Count => _entries.Count + _pins.Count;

        public void Clear() { _entries.Clear(); _pins.Clear(); _names.Clear(); _nameIndex.Clear(); _size = HeaderBytes + MacBytes; }

        public bool TryAdd(SyncEntry e)
        {
            if (_pins.Count > 0) throw new InvalidOperationException("a datagram carries tokens or pins, not both");
            if (!Reserve(e.Backend)) return false;
            _entries.Add(e);
            return true;
        }

        /// <summary>Adds a pin (a datagram finished as <see cref="SyncMessageType.Pins"/>); false when it would not fit.</summary>
        public bool TryAddPin(PinEntry p)
        {
            if (_entries.Count > 0) throw new InvalidOperationException("a datagram carries tokens or pins, not both");
            if (p.RemainingMilliseconds == 0) throw new ArgumentException("a pin needs idle time left", nameof(p));
            if (!Reserve(p.Backend)) return false;
            _pins.Add(p);
            return true;
        }

        bool Reserve(string? backend)
        {
            int extra = EntryBytes;
            byte[]? newName = null;
            if (backend is not null && !_nameIndex.ContainsKey(backend))
            {
                newName = Encoding.UTF8.GetBytes(backend);
                if (newName.Length is 0 or > 255) throw new ArgumentException($"backend name '{backend}' must be 1..255 bytes of UTF-8");
                if (_names.Count >= NoName) return false;
                extra += 1 + newName.Length;
            }
            if (_size + extra > _maxBytes || Count == ushort.MaxValue) return false;
            if (newName is not null) { _nameIndex[backend!] = _names.Count; _names.Add(newName); }
            _size += extra;
            return true;
        }

        /// <summary>The signed datagram.</summary>
        public byte[] Finish(SyncMessageType type, ulong epoch, ulong sequence, long timestampMicroseconds, byte[] key)
        {
            var d = new byte[_size];
            Magic.CopyTo(d);
            d[4] = Version;
            d[5] = (byte)type;
            if ((type == SyncMessageType.Pins) != (_pins.Count > 0) && Count > 0)
                throw new InvalidOperationException($"a {type} datagram cannot carry {(_pins.Count > 0 ? "pins" : "token entries")}");
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(6), (ushort)Count);
            BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(8), epoch);
            BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(16), sequence);
            BinaryPrimitives.WriteInt64BigEndian(d.AsSpan(24), timestampMicroseconds);
            d[32] = (byte)_names.Count;
            int at = HeaderBytes;
            foreach (var n in _names) { d[at++] = (byte)n.Length; n.CopyTo(d, at); at += n.Length; }
            foreach (var e in _entries)
            {
                d[at] = (byte)((byte)e.Op | (e.Fresh ? FreshBit : 0));
                d[at + 1] = e.Backend is null ? NoName : (byte)_nameIndex[e.Backend];
                BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(at + 2), e.Token);
                BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(at + 6), e.AgeMicroseconds);
                at += EntryBytes;
            }
            foreach (var p in _pins)
            {
                d[at] = (byte)SyncOp.Pin;
                d[at + 1] = (byte)_nameIndex[p.Backend];
                BinaryPrimitives.WriteUInt64BigEndian(d.AsSpan(at + 2), p.FlowHash);
                BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(at + 10), p.RemainingMilliseconds);
                at += EntryBytes;
            }
            HMACSHA256.HashData(key, d.AsSpan(0, at), d.AsSpan(at, MacBytes));
            return d;
        }
    }
}

/// <summary>
/// Replay protection for one peer: a datagram is accepted once. Within an epoch (one run of the sender) a
/// 64-wide sliding window over sequence numbers (as IPsec's); a new epoch (the peer restarted) only with a
/// timestamp later than every datagram accepted from the peer so far, so an old run's datagrams cannot be replayed
/// after a restart; and every datagram only within MaxClockSkew of this appliance's clock. Not thread-safe: the
/// receive thread owns it.
/// </summary>
public sealed class ReplayWindow
{
    const int Width = 64;
    ulong _epoch;
    ulong _highest;
    ulong _bits; // bit i: _highest - i was seen
    long _lastTimestamp = long.MinValue;
    bool _any;

    public enum Verdict { Accepted, AcceptedNewEpoch, Replay, Stale }

    public ulong Epoch => _epoch;

    public Verdict Check(ulong epoch, ulong seq, long timestampUs, long nowUs, long maxSkewUs)
    {
        if (Math.Abs(timestampUs - nowUs) > maxSkewUs) return Verdict.Stale;
        if (!_any || epoch != _epoch)
        {
            if (_any && timestampUs <= _lastTimestamp) return Verdict.Replay; // an earlier run's datagram
            bool restarted = _any;
            _any = true;
            _epoch = epoch; _highest = seq; _bits = 1; _lastTimestamp = timestampUs;
            return restarted ? Verdict.AcceptedNewEpoch : Verdict.Accepted;
        }
        if (seq > _highest)
        {
            ulong shift = seq - _highest;
            _bits = shift >= Width ? 1 : (_bits << (int)shift) | 1;
            _highest = seq;
        }
        else
        {
            ulong back = _highest - seq;
            if (back >= Width) return Verdict.Replay; // too old to tell: refused
            ulong bit = 1UL << (int)back;
            if ((_bits & bit) != 0) return Verdict.Replay;
            _bits |= bit;
        }
        _lastTimestamp = Math.Max(_lastTimestamp, timestampUs);
        return Verdict.Accepted;
    }
}
