package host

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/switchyard/switchyard/engine"
	ivvyplugin "github.com/switchyard/switchyard/plugins/ivvy"
)

// prepare gives an iVvy delivery SNS-shaped URLs in place of the engine's generic ones: a
// SubscribeURL that confirms with the subscription's unguessable token, and an UnsubscribeURL that
// removes it, both answered in SNS's XML:
//
//	/compat/ivvy/sns?Action=ConfirmSubscription&TopicArn=...&Token=...
//	/compat/ivvy/sns?Action=Unsubscribe&SubscriptionArn=...&Token=...
//
// (SNS's own unsubscribe URL carries no token; the subscription ARN here is derived, so the token
// is what keeps a stranger from unsubscribing a receiver.)
func (s *Style) prepare(_ context.Context, w *engine.Work, urls *engine.DeliveryURLs) (json.RawMessage, error) {
	sub := w.Subscription
	token := s.engine.ConfirmToken(sub)
	if token == "" {
		return nil, nil
	}
	topic := topicOf(sub)
	urls.Confirm = s.publicURL + "/compat/ivvy/sns?Action=ConfirmSubscription&TopicArn=" + url.QueryEscape(topic) +
		"&Token=" + url.QueryEscape(token)
	urls.Unsubscribe = s.publicURL + "/compat/ivvy/sns?Action=Unsubscribe&SubscriptionArn=" +
		url.QueryEscape(ivvyplugin.SubscriptionArn(topic, sub.ID)) + "&Token=" + url.QueryEscape(token)
	return nil, nil
}

type confirmSubscriptionResponse struct {
	XMLName xml.Name `xml:"ConfirmSubscriptionResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Result  struct {
		SubscriptionArn string `xml:"SubscriptionArn"`
	} `xml:"ConfirmSubscriptionResult"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type unsubscribeResponse struct {
	XMLName  xml.Name         `xml:"UnsubscribeResponse"`
	Xmlns    string           `xml:"xmlns,attr"`
	Metadata responseMetadata `xml:"ResponseMetadata"`
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// snsAction serves the SubscribeURL and UnsubscribeURL of iVvy deliveries.
func (s *Style) snsAction(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.QueryParam("Token")
	action := c.QueryParam("Action")
	if action != "ConfirmSubscription" && action != "Unsubscribe" {
		return &engine.ValidationError{Field: "Action", Message: fmt.Sprintf("%q is not ConfirmSubscription or Unsubscribe", action)}
	}
	if token == "" {
		return &engine.ValidationError{Field: "Token", Message: "is required"}
	}
	// Tokens of other styles' subscriptions are not this endpoint's business.
	sub, err := s.engine.SubscriptionByToken(ctx, token)
	if err != nil || sub.Format != Format {
		return fmt.Errorf("no subscription has this token: %w", engine.ErrNotFound)
	}
	if action == "Unsubscribe" {
		if _, err := s.engine.UnsubscribeByToken(ctx, token); err != nil {
			return err
		}
		resp := unsubscribeResponse{Xmlns: snsNamespace, Metadata: responseMetadata{RequestID: requestID()}}
		return writeXML(c, http.StatusOK, resp)
	}
	sub, err = s.engine.ConfirmSubscription(ctx, token)
	if err != nil {
		return err
	}
	resp := confirmSubscriptionResponse{Xmlns: snsNamespace, Metadata: responseMetadata{RequestID: requestID()}}
	resp.Result.SubscriptionArn = ivvyplugin.SubscriptionArn(topicOf(sub), sub.ID)
	return writeXML(c, http.StatusOK, resp)
}

// requestID is a random UUID (version 4), as SNS gives every answer.
func requestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
