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
