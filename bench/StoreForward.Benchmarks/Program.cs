using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/StoreForward.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(StoreForward.Benchmarks.StoreCommitBenchmarks).Assembly).Run(args);
