module github.com/switchyard/switchyard

go 1.25.0

require (
	github.com/switchyard/switchyard/sdk v0.0.0
	github.com/tetratelabs/wazero v1.12.0
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sys v0.44.0 // indirect

replace github.com/switchyard/switchyard/sdk => ./sdk
