using Switchyard.Dataplane.Native;

namespace Switchyard.Tests.Native;

public class HugepagesTests
{
    const string MeminfoWithPages = """
        MemTotal:       24563860 kB
        MemFree:        20000000 kB
        HugePages_Total:     256
        HugePages_Free:      200
        HugePages_Rsvd:        0
        HugePages_Surp:        0
        Hugepagesize:       2048 kB
        Hugetlb:          524288 kB
        """;

    const string MeminfoNoPages = """
        MemTotal:       24563860 kB
        HugePages_Total:       0
        HugePages_Free:        0
        Hugepagesize:       2048 kB
        """;

    const string MountsWithHugetlbfs = """
        sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
        proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
        nodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0
        """;

    const string MountsWithout = """
        sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
        tmpfs /run tmpfs rw,nosuid,nodev 0 0
        """;

    [Fact]
    public void Free_pages_and_a_mounted_hugetlbfs_are_usable()
    {
        var s = Hugepages.Parse(MeminfoWithPages, MountsWithHugetlbfs);
        Assert.Equal(256, s.Total);
        Assert.Equal(200, s.Free);
        Assert.Equal(2048, s.PageSizeKiB);
        Assert.Equal("/dev/hugepages", s.MountPoint);
        Assert.True(s.Usable);
        Assert.Equal(200L * 2 * 1024 * 1024, s.FreeBytes);
    }

    [Fact]
    public void Free_pages_without_a_hugetlbfs_mount_are_not_usable()
    {
        var s = Hugepages.Parse(MeminfoWithPages, MountsWithout);
        Assert.Equal(200, s.Free);
        Assert.Null(s.MountPoint);
        Assert.False(s.Usable);
    }

    [Fact]
    public void No_reserved_pages_are_not_usable_even_when_mounted()
    {
        var s = Hugepages.Parse(MeminfoNoPages, MountsWithHugetlbfs);
        Assert.Equal(0, s.Free);
        Assert.False(s.Usable);
    }

    [Fact]
    public void Empty_or_malformed_text_reads_as_nothing_and_does_not_throw()
    {
        Assert.False(Hugepages.Parse("", "").Usable);
        var s = Hugepages.Parse("HugePages_Free: lots\nHugepagesize:\n:::\n", "garbage\n\n");
        Assert.Equal(0, s.Free);
        Assert.Equal(0, s.PageSizeKiB);
        Assert.Null(s.MountPoint);
    }

    [Fact]
    public void Detect_on_this_machine_does_not_throw()
    {
        var s = Hugepages.Detect();
        Assert.True(s.Free >= 0 && s.Total >= s.Free);
    }
}
