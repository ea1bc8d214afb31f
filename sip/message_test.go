package sip

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func TestSendMessageReachesThePhone(t *testing.T) {
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	phoneSrv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	phoneSrv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		got <- req.ContentType().Value() + "|" + string(req.Body())
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go phoneSrv.ServeUDP(pc)
	defer pc.Close()

	h := hotlineServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = h.SendMessage(ctx, Message{Target: "sip:1002@" + pc.LocalAddr().String(), User: "1002", Transport: "UDP", Text: "通话静音已超过8秒"})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	select {
	case m := <-got:
		if m != "text/plain;charset=UTF-8|通话静音已超过8秒" {
			t.Fatalf("phone got %q", m)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the phone never got the MESSAGE")
	}
}
