using System.Runtime.Versioning;

// The suite runs on Linux only (network namespaces, DPDK, tshark, /proc and /sys). Saying so lets the
// platform analyzer (CA1416) accept Unix-only APIs such as File.GetUnixFileMode in the tests.
[assembly: SupportedOSPlatform("linux")]
