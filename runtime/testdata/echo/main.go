// Command echo is a well-behaved test plugin that exercises every part of the ABI: it echoes its
// input, signs with whatever key the subscription option "key" names, asks for the secret the option
// "embed" names to be written into a header, implements both hooks, logs, and reads the clock and
// random source.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/switchyard/switchyard/sdk"
)

var plugin = sdk.Plugin{
	Manifest: sdk.Manifest{
		Name:    "echo",
		Version: "0.1.0",
		Events:  []sdk.EventType{{Type: "thing.*", Name: "ThingHappened"}, {Type: "*"}},
	},
	Shape: func(in *sdk.Input) (*sdk.Request, error) {
		if in.Subscription.Options["fail"] == "clean" {
			return nil, sdk.Retryable(errors.New("asked to fail"))
		}
		in.Log(sdk.LevelInfo, "shaping "+in.Delivery.ID)
		req := &sdk.Request{Method: "PUT", Path: "/echo"}
		if ref := in.Subscription.Options["key"]; ref != "" {
			sig, err := in.Sign(ref, in.Subscription.Options["alg"], in.Event.Data)
			if err != nil {
				return nil, err
			}
			req.SetHeader("x-signature", base64.StdEncoding.EncodeToString(sig))
		}
		if ref := in.Subscription.Options["embed"]; ref != "" {
			req.SetHeader("x-embedded", in.Secret(ref, sdk.SecretRaw))
		}
		req.SetHeader("x-now", strconv.FormatInt(in.Now().UnixMilli(), 10))
		req.SetHeader("x-random", hex.EncodeToString(in.Random(16)))
		body, _ := json.Marshal(map[string]any{
			"event_id": in.Event.ID, "type": in.Event.Type, "entity": in.Event.Entity.ID,
			"occurred_at": in.Event.OccurredAt, "account": in.Account.Name, "app": in.App.Name,
			"delivery": in.Delivery.ID, "attempt": in.Delivery.Attempt, "options": in.Subscription.Options,
			"data": json.RawMessage(in.Event.Data), "state": in.State,
		})
		req.Body = body
		return req, nil
	},
	OnSubscribe: func(in *sdk.Input) (*sdk.Request, error) {
		return &sdk.Request{URL: in.Delivery.ConfirmURL, Body: []byte(`{"confirm":"` + in.Subscription.ID + `"}`)}, nil
	},
	OnResponse: func(in *sdk.Input) (*sdk.Verdict, error) {
		r := in.Response
		switch {
		case r.Status == 200:
			return &sdk.Verdict{Outcome: sdk.OutcomeSuccess, Keep: r.Body}, nil
		case r.Status == 410:
			return &sdk.Verdict{Outcome: sdk.OutcomeDisable, Message: "gone"}, nil
		case r.Header("retry-after") != "":
			secs, _ := strconv.Atoi(r.Header("retry-after"))
			return &sdk.Verdict{Outcome: sdk.OutcomeRetry, RetryAfter: secondsToDuration(secs)}, nil
		}
		return &sdk.Verdict{Outcome: sdk.OutcomeGiveUp, Message: "status " + strconv.Itoa(r.Status)}, nil
	},
}

func init() { sdk.Register(&plugin) }

func main() {}

func secondsToDuration(s int) time.Duration { return time.Duration(s) * time.Second }
