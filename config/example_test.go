package config_test

import (
	"fmt"
	"time"

	"github.com/hotline-dev/hotline/config"
)

func ExampleParse() {
	_, err := config.Parse("hotline.yaml", []byte(`language: en
closing:
  safety_timeout: 30
answer:
  delay: 20s
rtp:
  port_min: 10001
`))
	fmt.Println(err)
	// Output:
	// hotline.yaml:3: closing.safety_timeout: want a duration like 1s, got number 30
	// hotline.yaml:5: answer.delay: answer delay 20s is beyond three rings (15s)
	// hotline.yaml:7: rtp.port_min: port 10001 is odd; RTP uses even ports (RTCP takes the odd one above)
}

func ExampleConfig_PartOfDay() {
	c := config.Default() // Asia/Shanghai, morning from 05:00
	utc := time.Date(2025, 6, 1, 21, 30, 0, 0, time.UTC)
	fmt.Println(c.PartOfDay(utc)) // 05:30 in Shanghai
	// Output: morning
}

func ExampleConfig_AgentQueues() {
	c, err := config.Parse("hotline.yaml", []byte(`agents:
  - {user: "1001", password: change-me, queues: [sales]}
  - {user: "1002", password: change-me-too}
queues:
  - name: support
  - name: sales
    strategy: ring_all
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range c.Agents {
		fmt.Println(a.Name, c.AgentQueues(a))
	}
	q, _ := c.QueueByName("sales")
	fmt.Println(q.Name, q.Strategy, q.RingCycles)
	// Output:
	// 1001 [sales]
	// 1002 [support sales]
	// sales ring_all 3
}
