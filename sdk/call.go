package sdk

import "errors"

// Export names of the ABI.
const (
	ExportManifest    = "manifest"
	ExportShape       = "shape"
	ExportOnSubscribe = "on_subscribe"
	ExportOnResponse  = "on_response"
)

// CompleteManifest returns the manifest as the host sees it: with the ABI version and the hooks
// that are set filled in.
func (p *Plugin) CompleteManifest() Manifest {
	m := p.Manifest
	m.ABI = ABIVersion
	m.Hooks = nil
	if p.OnSubscribe != nil {
		m.Hooks = append(m.Hooks, HookOnSubscribe)
	}
	if p.OnResponse != nil {
		m.Hooks = append(m.Hooks, HookOnResponse)
	}
	return m
}

// Call runs one ABI export of p: the wasm exports call it inside the sandbox, and tests and
// benchmarks call it natively to run exactly the same path. It appends the export's result to out and
// reports whether the result is an error object. A plugin that panics is not recovered: inside the
// sandbox the host sees a trap and discards the instance, whose state can no longer be trusted.
func (p *Plugin) Call(export string, input []byte, host Host, out []byte) (result []byte, isError bool) {
	if export == ExportManifest {
		m := p.CompleteManifest()
		result, err := m.AppendJSON(out)
		if err != nil {
			return AppendError(out, err), true
		}
		return result, false
	}
	in := &Input{host: host}
	if err := DecodeInput(input, in); err != nil {
		return AppendError(out, err), true
	}
	switch export {
	case ExportShape, ExportOnSubscribe:
		fn := p.Shape
		if export == ExportOnSubscribe {
			fn = p.OnSubscribe
		}
		if fn == nil {
			return AppendError(out, errNotImplemented(export)), true
		}
		req, err := fn(in)
		if err != nil {
			return AppendError(out, err), true
		}
		if req == nil {
			return AppendError(out, errors.New(export+" returned no request")), true
		}
		if len(in.secrets) > 0 {
			req.Secrets = append(req.Secrets, in.secrets...)
		}
		return req.AppendFrame(out), false
	case ExportOnResponse:
		if p.OnResponse == nil {
			return AppendError(out, errNotImplemented(export)), true
		}
		v, err := p.OnResponse(in)
		if err != nil {
			return AppendError(out, err), true
		}
		if v == nil {
			return AppendError(out, errors.New("on_response returned no verdict")), true
		}
		return v.AppendJSON(out), false
	}
	return AppendError(out, errors.New("unknown export "+export)), true
}

func errNotImplemented(export string) error {
	return errors.New("this plugin does not implement " + export)
}
